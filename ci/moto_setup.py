"""Makes moto's S3 usable with authentication on: an IAM user allowed everything,
its access key (printed as "KEY SECRET"), and the test bucket made with that key.
moto answers only the first three requests without a valid signature
(INITIAL_NO_AUTH_ACTION_COUNT=3): the IAM calls here.

Then proves the server strict, as the tests rely on it: a request whose query goes
on the wire as signed passes, and the same request with `/` sent raw where the
signature covers `%2F` is refused with SignatureDoesNotMatch."""
import json
import sys
import urllib.error
import urllib.request

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

endpoint, region, bucket = sys.argv[1:4]
iam = boto3.client("iam", endpoint_url=endpoint, region_name=region,
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="dbop")
iam.put_user_policy(UserName="dbop", PolicyName="everything", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="dbop")["AccessKey"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region,
                  aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
s3.create_bucket(Bucket=bucket)


def status(wire_query):
    signed = AWSRequest(method="GET", url=f"{endpoint}/{bucket}/?prefix=strict%2Fcheck%2F&uploads=",
                        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    S3SigV4Auth(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "s3", region).add_auth(signed)
    request = urllib.request.Request(f"{endpoint}/{bucket}/?{wire_query}", headers=dict(signed.headers.items()))
    try:
        return urllib.request.urlopen(request).status
    except urllib.error.HTTPError as error:
        return error.code


if status("prefix=strict%2Fcheck%2F&uploads=") != 200:
    sys.exit("moto refused a request sent exactly as signed")
if status("prefix=strict/check/&uploads=") != 403:
    sys.exit("moto accepted a query that differs from the one signed: it does not check signatures strictly")
print(key["AccessKeyId"], key["SecretAccessKey"])
