"""Entry point of vod_callback: ``handler(event, context)``, as Function Compute 3.0 calls it."""

from functions.vod_callback.operation import operation
from upload_broker.runtime import entry_point

handler = entry_point(operation)
