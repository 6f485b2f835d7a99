"""``bigmart api``: the local backend behind SageMaker's wire protocol, so unmodified boto3
code (``endpoint_url=`` or ``AWS_ENDPOINT_URL_SAGEMAKER``) trains, hosts and batch-transforms
on this machine.

- ``errors``: SageMaker's error answers (code, message, HTTP status);
- ``shapes``: requests checked and answers serialized with botocore's own service model;
- ``workers``: Create calls run in a background process each, as SageMaker runs jobs;
- ``control``: the control plane's operations over ``LocalSageMaker``;
- ``listing``: List answers filtered, sorted and paged as SageMaker's;
- ``arns``: the region (the client's signature's) and account ARNs name;
- ``capacity``: ``--max-instances``, and ResourceLimitExceeded past it;
- ``runtime``: InvokeEndpoint, proxied to the endpoint's ``serve``;
- ``app``: the ASGI app that routes a request to one of the two.
"""
