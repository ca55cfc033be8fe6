"""The test suite, one folder per package of the app (tests/runtime/ tests runtime/, and
so on), and tests/app/ for the whole running app: `python app.py` started and driven
through gradio_client, HTTP or a browser. Every folder is a package, so a test module is
imported by its full name (tests.search.test_index) and can import another's helpers."""
