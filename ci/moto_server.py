"""moto's S3 server, verifying every SigV4 signature against the request as sent.

moto checks signatures (INITIAL_NO_AUTH_ACTION_COUNT) by recomputing them with
botocore over the request URL. In server mode it takes that URL from werkzeug's
`Request.url`, which is an IRI: percent-escapes are decoded (`%2F` -> `/`,
`%3D` -> `=`). The canonical query then holds raw `/`, which no correct client
signs, so even the AWS CLI's `s3api list-objects-v2 --prefix a/b/` is refused
(SignatureDoesNotMatch). moto's S3 code otherwise takes the URL as sent (its
in-process mode gets botocore's encoded URL), so this runs moto with `Request.url`
rebuilt from the raw request line (RAW_URI, as werkzeug's server records it): the
signature is then checked against exactly the bytes the client put on the wire.

It also answers STS AssumeRoleWithWebIdentity unsigned, as AWS does.

    python3 ci/moto_server.py -H 127.0.0.1 -p PORT
"""
import sys

from werkzeug.sansio.request import Request


def url_as_sent(self):
    raw = self.environ.get("RAW_URI") or self.environ.get("REQUEST_URI")
    if not raw:
        return Request.__dict__["_iri_url"].__get__(self)
    return f"{self.scheme}://{self.host}{raw}"


Request._iri_url = Request.__dict__["url"]
Request.url = property(url_as_sent)

# STS AssumeRoleWithWebIdentity is an unsigned call in AWS (the web identity token
# is the credential); moto wants it signed once authentication is on. Answer it
# unsigned, as AWS does.
from moto.core.authorization import ActionAuthenticatorMixin  # noqa: E402

_authenticate = ActionAuthenticatorMixin._authenticate_and_authorize_action


def authenticate_unless_web_identity(self, iam_request_cls, resource="*"):
    if self._get_action() == "AssumeRoleWithWebIdentity":
        return None
    return _authenticate(self, iam_request_cls, resource)


ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate_unless_web_identity

from moto.server import main  # noqa: E402  (after the patch)

main(sys.argv[1:])
