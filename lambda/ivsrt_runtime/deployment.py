"""Deployment settings of the provider function, read by the constructs (its timeout), the
handler (when to stop retrying) and the local framework stand-in.
"""

# The provider function's timeout. Under throttling its calls are retried until
# ANSWER_MARGIN_SECONDS before it. A fleet needs N / 5 seconds for N calls of one operation, and
# stacks deployed at the same time share the account's quotas: 10 minutes covers about 2700 calls
# of one operation in one account. (The Provider framework's function that calls it waits 15.)
FUNCTION_TIMEOUT_SECONDS = 600

# Retries stop this long before Lambda would stop the function, so that an attempt started just
# before (5 s to connect, 30 s to read, see clients.ivs_client) still ends in an answer.
ANSWER_MARGIN_SECONDS = 45.0
