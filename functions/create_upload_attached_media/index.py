"""Entry points of create_upload_attached_media: ``handler`` (HTTP trigger, WSGI), ``event_handler`` (API GW)."""

from functions.create_upload_attached_media.operation import operation
from upload_broker.runtime import entry_points

handler, event_handler = entry_points(operation)
