"""Build, release and grade the Depth-vs-width nbgrader course."""
