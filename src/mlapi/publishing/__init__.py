"""Models trained elsewhere, published as versions: checked in a child process, measured by the server.

    publish.py     the upload's way in: a temporary folder, the checks, the new version and its card
    sandbox.py     the child process: limits, the archive, the allow-list, the contract, the measures
    estimators.py  what the use cases' contracts ask of an estimator

Each use case that takes published models says how in its own ``publishing.py``
(:class:`mlapi.usecase.Publishing`). docs/publishing.md is the guide.
"""
