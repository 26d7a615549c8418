"""Entry point of list_uploads: ``handler(event, context)``, as Function Compute 3.0 calls it."""

from functions.list_uploads.operation import operation
from upload_broker.runtime import entry_point

handler = entry_point(operation)
