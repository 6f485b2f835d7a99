"""Reports a person opens: self-contained HTML pages (inline CSS and SVG charts, nothing
fetched) drawn from plain JSON documents. Knows nothing of models: callers hand it the
numbers (``bigmart.model.report_data``)."""

#: The training report's files in a job's output/data (so in output.tar.gz), named here
#: apart from the rendering so that finding a report does not load matplotlib.
HTML_FILE = "report.html"
JSON_FILE = "report.json"
