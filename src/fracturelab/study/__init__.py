"""Studies: specs, cells, executors, the results store and analysis. For now: the preview that `run` performs."""
