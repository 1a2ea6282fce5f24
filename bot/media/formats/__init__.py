"""Media formats recognised by their content, one module per family of formats."""
