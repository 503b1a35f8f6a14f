"""The runtime that executes jobs: workers take ready automatic tasks, run their implementations and
record results through services. Also home of the built-in WorkFlowEngine task library."""
