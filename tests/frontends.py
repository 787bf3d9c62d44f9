"""How each front end students use saves a notebook: the structure of its file, as a fixture.

Each function takes a notebook (a filled-in release) and returns the JSON-ready dict that front end
would write after the student opened, ran and saved it. What each one does, from files they save:
- JupyterLab 4: nbformat 4.5, cell ids kept, cells it creates get random ids; sources as lists of lines;
  `execution` timing in cell metadata when record timing is on.
- Notebook 7: JupyterLab's document model: the same, with `trusted` in the cell metadata.
- VS Code: nbformat 4.5, every cell id rewritten, `vscode.languageId` in code cells' metadata and
  `vscode.interpreter` in the notebook's; its cell editor keeps nbgrader metadata it does not show.
- Colab: nbformat 4.0 (no cell ids), cell metadata replaced by its own (`id`, `colab`, outputs with
  `outputId`), so nbgrader's tags are gone; `colab`, `kernelspec` and `language_info` on the notebook.
- Kaggle: nbformat 4.4 (no cell ids), `_uuid`, `_cell_guid`, `trusted` and `execution` in the cell
  metadata, nbgrader's kept; `kaggle` on the notebook.
"""
from __future__ import annotations

import copy
import hashlib
from typing import Callable

import nbformat


def _lines(source: str) -> list[str]:
    return source.splitlines(keepends=True)


def _token(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def _base(nb: nbformat.NotebookNode, minor: int) -> dict:
    data = copy.deepcopy(dict(nb))
    data["nbformat"], data["nbformat_minor"] = 4, minor
    data["cells"] = [dict(copy.deepcopy(cell)) for cell in nb.cells]
    for cell in data["cells"]:
        cell["source"] = _lines(cell["source"])
        if cell["cell_type"] == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    return data


def jupyterlab4(nb: nbformat.NotebookNode) -> dict:
    data = _base(nb, 5)
    for n, cell in enumerate(data["cells"]):
        cell.setdefault("id", _token("lab", n)[:36])
        if cell["cell_type"] == "code":
            cell["metadata"]["execution"] = {"iopub.execute_input": "2026-11-30T10:00:00.000Z", "shell.execute_reply": "2026-11-30T10:00:01.000Z"}
    return data


def notebook7(nb: nbformat.NotebookNode) -> dict:
    data = jupyterlab4(nb)
    for cell in data["cells"]:
        cell["metadata"]["trusted"] = True
    return data


def vscode(nb: nbformat.NotebookNode) -> dict:
    data = _base(nb, 5)
    data["metadata"]["vscode"] = {"interpreter": {"hash": _token("interpreter")}}
    for n, cell in enumerate(data["cells"]):
        cell["id"] = _token("vscode", n)[:8]
        if cell["cell_type"] == "code":
            cell["metadata"]["vscode"] = {"languageId": "python"}
    return data


def colab(nb: nbformat.NotebookNode) -> dict:
    data = _base(nb, 0)
    data["metadata"] = {"colab": {"provenance": [], "name": "depth_vs_width.ipynb"},
                        "kernelspec": {"name": "python3", "display_name": "Python 3"}, "language_info": {"name": "python"}}
    for n, cell in enumerate(data["cells"]):
        cell.pop("id", None)
        cell["metadata"] = {"id": _token("colab", n)[:12]}
        if cell["cell_type"] == "code":
            cell["metadata"]["colab"] = {"base_uri": "https://localhost:8080/"}
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["ran\n"], "metadata": {"outputId": _token("out", n)[:36]}}]
    return data


def kaggle(nb: nbformat.NotebookNode) -> dict:
    data = _base(nb, 4)
    data["metadata"]["kaggle"] = {"accelerator": "none", "dataSources": [], "isInternetEnabled": False, "language": "python",
                                  "sourceType": "notebook", "isGpuEnabled": False}
    for n, cell in enumerate(data["cells"]):
        cell.pop("id", None)
        cell["metadata"].update(_uuid=_token("uuid", n)[:40], _cell_guid=_token("guid", n)[:36], trusted=True)
        if cell["cell_type"] == "code":
            cell["metadata"]["execution"] = {"iopub.status.busy": "2026-11-30T10:00:00.0Z", "shell.execute_reply": "2026-11-30T10:00:01.0Z"}
    return data


FRONT_ENDS: dict[str, Callable[[nbformat.NotebookNode], dict]] = {
    "jupyterlab4": jupyterlab4, "notebook7": notebook7, "vscode": vscode, "colab": colab, "kaggle": kaggle,
}
