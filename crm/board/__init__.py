"""The board (销售管道): a column per stage, cards moved by dragging or by a select."""
