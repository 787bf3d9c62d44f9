"""Build, release and grade the Depth-vs-width nbgrader course.

Module map, in pipeline order (`cli` drives it; `safe_grading.Grader` runs the grading stages):

Settings   settings (the Course the tools use: one notebook of one assignment; assignment_views, every notebook of
           the course) <- course_schema (course.yml's declared schema: one assignment or several);
           nbgrader_settings, nbgrader_api (nbgrader's configuration, API and gradebook, written with retries).
Release    release (points from course.yml into each notebook, then nbgrader's generate_assignment); cells (nbgrader's
           cell vocabulary: grade_id, answer and test cells); samples (the sample submissions samples/samples.yml
           describes);
           validation (the grader's own verdict on one notebook, recorded nowhere).
Submissions intake/ (a subpackage): intake.submissions (submitted/, a folder, a notebook, an LMS download: one
           submission per student), intake.lms_layouts (whose an LMS download's entry is, from its name),
           intake.archives (zips unpacked safely), intake.notebook_finder (the assignment's notebook among a student's
           files: by name, else by content), intake.notebook_file (a file's cells, read forgivingly, or why not);
           rerun_state (what is final, what a rerun regrades).
Assemble   alignment (which submitted cell is which release cell: tags, ids, text, signatures); assemble (the
           student's answer cells and own cells put into the master's notebook).
Run        kernel/ (the sandboxed-kernel stage, a subpackage): kernel.execution (one notebook in a kernel,
           with nbclient) in the sandbox: kernel.sandbox (the kernel's command line), kernel.confine
           (limits-only fallback), kernel.scratch (bounded tmpfs folders), kernel.uid_lease (one uid per
           kernel), kernel.out_of_space; kernel.warm_kernels and kernel.fork_server (kernels forked from a
           per-slot template that ran the setup cells); kernel.kernel_agent and kernel.exchange (plain data
           out of the kernel); kernel.kernel_messages (every Jupyter message from the kernel, bounded and checked).
Judge      checkspec (the master's test cells and their contract), trusted_tests (test cells run in the
           grader on the exported values), judge (what a student may read about a check).
Record     records (reports, evaluations, verdicts: plain data), whose_fault (which outcome is the submission's doing,
           final, and which the grader's, retried: by where a failure arose), gradebook_io (scores into nbgrader's
           gradebook), feedback and html_pages, atomic (whole writes, saved JSON read back) and diskspace (free space),
           batch_lock (one batch at a time), batch_stop (why a batch stops recording: disk, gradebook).
Report     results (terminal table, grading-results.csv), class_report (the HTML page of a notebook's batch, and the
           course's page over every assignment), progress.
Course loop deadlines (times, the late policy as an nbgrader LateSubmissionPlugin), roster (roster and extensions
           CSVs), course_records (due date, roster, times, extensions, penalties into the gradebook),
           lms_export (Canvas, Moodle and nbgrader CSVs as nbgrader ExportPlugins).
Scale out  workers (serial, local threads, Dask) with bundle (what a worker without the course needs),
           code_version (workers must judge alike), worker_preload (what a Dask worker imports when it starts).
Engines    safe_grading (the default: sandboxed kernels, verdicts in the grader); stock_grading (plain
           `nbgrader autograde`, for comparison) with preprocessors (its fixes for tampered files).
"""
