"""The benchmark suite behind ``assetlake bench``: write and read paths at realistic sizes.

Entry points: :func:`resolvers.bench.runner.run_bench` (returns the figures as a dict) and
:func:`resolvers.bench.report.render_table`. Only :mod:`resolvers.bench.history` knows the
physical layout of the lake; everything else goes through the public API
(``LakeWriter``, ``ingest_records``, ``resolvers.query.connect``).
"""
