"""Entry point of get_upload_token: ``handler(event, context)``, as Function Compute 3.0 calls it."""

from functions.get_upload_token.operation import operation
from upload_broker.runtime import entry_point

handler = entry_point(operation)
