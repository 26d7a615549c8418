"""Entry point of create_upload_image: ``handler(event, context)``, as Function Compute 3.0 calls it."""

from functions.create_upload_image.operation import operation
from upload_broker.runtime import entry_point

handler = entry_point(operation)
