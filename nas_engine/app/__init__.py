"""The application layer: the command line, the demo pipeline, the benchmark tables and reports.

It sits on top of the engine (``nas_engine``), the op registry (``search_spaces``) and the
tasks, which it finds through the task registry (entry points and ``--plugin``), never by
importing them.
"""
