"""Entry points of get_upload_token: ``handler`` (HTTP trigger, WSGI) and ``event_handler`` (API Gateway)."""

from functions.get_upload_token.operation import operation
from upload_broker.runtime import entry_points

handler, event_handler = entry_points(operation)
