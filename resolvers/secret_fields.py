"""The fields assetlake treats specially in configuration documents and records, in one place.

Volatile keys are left out of a configuration's hash (bookkeeping that changes on every read is
not a change of the asset). Secret-bearing fields have their values replaced by a marker with a
keyed hash (resolvers/canonical.py), so a changed secret still changes the hash but is never
stored: docs/secrets.md.
"""

from __future__ import annotations

# Keys whose values are volatile bookkeeping: dropped before hashing, kept in the stored document.
VOLATILE_KEYS: frozenset[str] = frozenset(
    {
        "etag",
        "Etag",
        "ETag",
        "updateTime",
        "update_time",
        "updated",
        "lastModifiedTime",
        "LastModified",
        "lastModified",
        "ResponseMetadata",
        "fingerprint",
        "labelFingerprint",
        "metadataFingerprint",
        # counters and delivery clocks that AWS describe calls return and that change on their
        # own between two reads (not on a change of the asset). Last-use dates (access keys,
        # roles, passwords) stay in the hash: rules on unused credentials judge them.
        "LatestRestorableTime",
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
        "ItemCount",
        "TableSizeBytes",
        "SubscriptionsConfirmed",
        "SubscriptionsPending",
        "SubscriptionsDeleted",
        "LatestDeliveryTime",
        "LatestDeliveryAttemptTime",
        "LatestDeliveryAttemptSucceeded",
        "LatestNotificationTime",
        "LatestNotificationAttemptTime",
        "LatestNotificationAttemptSucceeded",
        "LatestDigestDeliveryTime",
        "LatestDigestAttemptTime",
        "LatestDigestAttemptSucceeded",
        "LatestCloudWatchLogsDeliveryTime",
    }
)

# The one list of redacted fields. A key in REDACTED_KEYS has its whole value replaced; a key in
# REDACTED_MAPS holds a map whose every value is replaced (names stay visible); a key in
# REDACTED_NAME_VALUE_LISTS holds a list of {name, value} pairs whose values are replaced.
REDACTED_KEYS: frozenset[str] = frozenset(
    {
        # AWS
        "UserData",  # EC2 instance / launch template user data
        "userData",
        "MasterUserPassword",  # RDS, Redshift, DocumentDB
        "masterUserPassword",  # the same in CloudTrail requests (lowerCamel)
        "Password",
        "password",
        "SecretString",  # Secrets Manager
        "SecretBinary",
        "secretString",
        "secretBinary",
        "SecretAccessKey",  # IAM access keys, STS credentials
        "secretAccessKey",
        "SessionToken",
        "sessionToken",
        "PrivateKey",  # ACM, IoT
        "privateKey",
        "AuthToken",  # ElastiCache
        "authToken",
        "KeyMaterial",  # EC2 key pairs
        "keyMaterial",
        # GCP
        "privateKeyData",  # iam.googleapis.com/ServiceAccountKey
        "private_key",
        "private_key_data",
        "rootPassword",  # Cloud SQL
        "clientSecret",
        "client_secret",
    }
)
REDACTED_MAPS: frozenset[str] = frozenset(
    {
        "Variables",  # Lambda Environment.Variables
        "variables",  # the same in CloudTrail requests (lowerCamel)
        "environmentVariables",  # Cloud Functions, CodeBuild
        "environment_variables",
        "buildEnvironmentVariables",
        "secretEnvironmentVariables",
    }
)
REDACTED_NAME_VALUE_LISTS: frozenset[str] = frozenset(
    {
        "environment",  # ECS container definitions
        "env",  # Cloud Run / Kubernetes containers
        "EnvironmentVariables",
    }
)
# Besides, any key whose name ends in "password" (any case) has its value replaced when that
# value is a string: tdeCredentialPassword, newPassword, adminPassword, ... (not
# PasswordLastUsed or passwordPolicy, whose names go on, nor a flag like ManageMasterUserPassword).
PASSWORD_SUFFIX = "password"
# What CloudTrail itself writes in place of a secret: no secret, kept as it is (a record that
# holds only these is landed byte for byte).
PLACEHOLDERS: frozenset[str] = frozenset(
    {"HIDDEN_DUE_TO_SECURITY_REASONS", "<sensitiveDataRemoved>"}
)
REDACTION_MARKER = "<redacted>"
