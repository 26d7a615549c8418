"""Entry points of create_upload_image: ``handler`` (HTTP trigger, WSGI) and ``event_handler`` (API Gateway)."""

from functions.create_upload_image.operation import operation
from upload_broker.runtime import entry_points

handler, event_handler = entry_points(operation)
