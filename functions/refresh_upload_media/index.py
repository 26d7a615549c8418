"""Entry points of refresh_upload_media: ``handler`` (HTTP trigger, WSGI) and ``event_handler`` (API Gateway)."""

from functions.refresh_upload_media.operation import operation
from upload_broker.runtime import entry_points

handler, event_handler = entry_points(operation)
