"""The baseline: a credential broker written the way the public demos write one.

The Alibaba Cloud VOD samples build an ``AcsClient`` inside the request handler and call it once, so every
request pays for a new client (signer, endpoint resolver), a new ``requests`` session and a new TCP
connection to the upstream. This app does exactly that, with the same bearer-token check as the broker
(PyJWT, HS256, ``sub`` required). It records nothing and checks no upstream limits, so it does *less*
work than the broker: the comparison flatters the baseline, not us.

Not for use: it exists only so the benchmark can state the broker's gain as a measured ratio.
"""

from __future__ import annotations

import json
import os

import jwt


def create_app():
    secret = os.environ["BROKER_JWT_SECRET"]
    key_id = os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"]
    key_secret = os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]
    endpoint = os.environ["VOD_ENDPOINT"]  # http://127.0.0.1:<port>
    protocol, host = endpoint.split("://", 1)

    def app(environ, start_response):
        def reply(status: str, body: dict) -> list[bytes]:
            data = json.dumps(body).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data]

        auth = environ.get("HTTP_AUTHORIZATION", "")
        try:
            claims = jwt.decode(auth.removeprefix("Bearer "), secret, algorithms=["HS256"],
                                options={"require": ["sub", "exp"]})
        except jwt.PyJWTError:
            return reply("401 Unauthorized", {"Code": "Unauthorized"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        if not body.get("Title") or not body.get("FileName"):
            return reply("400 Bad Request", {"Code": "MissingParameter"})

        # The demo shape: a client per request.
        from aliyunsdkcore.client import AcsClient
        from aliyunsdkvod.request.v20170321.CreateUploadVideoRequest import CreateUploadVideoRequest

        client = AcsClient(key_id, key_secret, "cn-shanghai")
        request = CreateUploadVideoRequest()
        request.set_endpoint(host)
        request.set_protocol_type(protocol)
        request.set_accept_format("JSON")
        request.set_Title(body["Title"])
        request.set_FileName(body["FileName"])
        response = json.loads(client.do_action_with_exception(request))
        response["Owner"] = claims["sub"]
        return reply("200 OK", response)

    return app
