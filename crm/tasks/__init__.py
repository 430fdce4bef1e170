"""Tasks (任务): my list at /tasks, and the task panel of customer and opportunity pages."""
