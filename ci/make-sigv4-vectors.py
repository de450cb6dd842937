"""Writes Tests/Unit/Fixtures/sigv4-botocore.json: SigV4 canonical requests and
Authorization headers computed by botocore (the AWS SDK for Python's signer) for
the requests the S3 client makes, with the awkward queries and keys a strict server
trips on. The unit tests check that SigV4Signer produces the same bytes.

    python3 ci/make-sigv4-vectors.py > Tests/Unit/Fixtures/sigv4-botocore.json
"""
import datetime
import json
import sys
from unittest import mock
from urllib.parse import quote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
CASES = [
    ("GET", "/dbop-test/", [("list-type", "2"), ("prefix", "backups/shop/orders/")], None),
    ("GET", "/dbop-test/", [("uploads", ""), ("prefix", "a/b/c-")], None),
    ("GET", "/dbop-test/", [("uploads", ""), ("prefix", "p/ns/db/bk-"), ("key-marker", "p/ns/db/bk-1.sql.gz"), ("upload-id-marker", "abc/def==")], None),
    ("GET", "/dbop-test/", [("list-type", "2"), ("prefix", "sp ace+plus=eq&amp?q#h%pct"), ("continuation-token", "1/ab+c==")], None),
    ("GET", "/dbop-test/", [("list-type", "2"), ("prefix", "ünïcode/漢字/é")], None),
    ("POST", "/dbop-test/backups/shop/orders/nightly-1-20261201T000000Z.pgdump", [("uploads", "")], "session-token/+="),
    ("PUT", "/dbop-test/backups/a b/c+d/e=f.sql.gz", [("partNumber", "3"), ("uploadId", "2~abc/DEF+ghi==")], None),
    ("DELETE", "/dbop-test/k", [("uploadId", "x y")], None),
    ("HEAD", "/dbop-test/ü/key with spaces", [], None),
    ("GET", "/", [("b", "2"), ("a", "2"), ("a", "1"), ("A", "0")], None),
]


class Recording(S3SigV4Auth):
    """botocore's S3 signer, keeping the canonical request it signed."""

    def canonical_request(self, request):
        self.recorded = super().canonical_request(request)
        return self.recorded


def main():
    date = datetime.datetime(2026, 12, 1, 12, 30, 45)
    vectors = []
    for method, path, query, token in CASES:
        # botocore takes the query from the URL as sent: encoded as S3 wants it.
        qs = "&".join(f"{quote(n, safe='-_.~')}={quote(v, safe='-_.~')}" for n, v in query)
        url = "http://127.0.0.1:41950" + quote(path, safe="/-_.~") + ("?" + qs if qs else "")
        request = AWSRequest(method=method, url=url, headers={"X-Amz-Content-SHA256": EMPTY})
        credentials = Credentials(KEY, SECRET, token)
        auth = Recording(credentials, "s3", "us-east-1")
        with mock.patch("botocore.auth.get_current_datetime", return_value=date):
            auth.add_auth(request)
        vectors.append({
            "method": method, "path": path, "query": [list(pair) for pair in query], "sessionToken": token,
            "host": "127.0.0.1:41950", "payloadHash": EMPTY, "date": "2026-12-01T12:30:45Z",
            "canonicalRequest": auth.recorded,
            "authorization": request.headers["Authorization"],
        })
    json.dump({"generator": "ci/make-sigv4-vectors.py (botocore S3SigV4Auth)", "accessKeyID": KEY, "secretAccessKey": SECRET,
               "region": "us-east-1", "vectors": vectors}, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


main()
