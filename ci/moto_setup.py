"""Makes moto's S3 usable with authentication on: an IAM user allowed everything,
its access key, the test bucket made with that key, and two roles for web identity
(AssumeRoleWithWebIdentity): one allowed S3, one allowed nothing. Prints
"KEY SECRET ROLE_ARN DENIED_ROLE_ARN".
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
# Roles a Job assumes with its service-account token, as on EKS: one that may use S3,
# one that may not (moto checks the assumed role's policies on every S3 request).
iam = boto3.client("iam", endpoint_url=endpoint, region_name=region,
                   aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
trust = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/db-operator.test"},
    "Action": "sts:AssumeRoleWithWebIdentity"}]})
allowed = iam.create_role(RoleName="dbop-backups", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
iam.put_role_policy(RoleName="dbop-backups", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
denied = iam.create_role(RoleName="dbop-nothing", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
print(key["AccessKeyId"], key["SecretAccessKey"], allowed, denied)
