"""Where stages run: in this process, or on Ray (the only package that imports ray). It knows no
stage: the domain packages hand it the stages and tasks to run."""
