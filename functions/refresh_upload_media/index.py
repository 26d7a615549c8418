"""Entry point of refresh_upload_media: ``handler(event, context)``, as Function Compute 3.0 calls it."""

from functions.refresh_upload_media.operation import operation
from upload_broker.runtime import entry_point

handler = entry_point(operation)
