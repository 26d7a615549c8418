"""Entry point of create_upload_attached_media: ``handler(event, context)``, as Function Compute 3.0 calls it."""

from functions.create_upload_attached_media.operation import operation
from upload_broker.runtime import entry_point

handler = entry_point(operation)
