"""The enumerated values the schema stores as text (str enums: the value is the stored string)."""

from __future__ import annotations

from enum import StrEnum


class OperationStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class OperationType(StrEnum):
    READ = "read"
    WRITE = "write"
    PROXY = "proxy"


class ConnectionStatus(StrEnum):
    CREATED = "created"
    WORKING = "working"
    BAD_CREDENTIALS = "bad_credentials"


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class AuthScheme(StrEnum):
    NONE = "none"
    API_KEY = "apiKey"
    BASIC = "basic"
    OAUTH2_AUTHORIZATION_CODE = "oauth2/authorizationCode"
    OAUTH2_AUTHORIZATION_CODE_PKCE = "oauth2/authorizationCodePKCE"
    OAUTH2_CLIENT_CREDENTIALS = "oauth2/clientCredentials"
    OAUTH2_PASSWORD = "oauth2/password"


class DestinationType(StrEnum):
    WEBHOOK = "webhook"
    KINESIS = "kinesis"
    S3 = "s3"
    SLACK = "slack"
    CLICKHOUSE = "clickhouse"
    SNOWFLAKE = "snowflake"
    BIGQUERY = "bigquery"
    REDSHIFT = "redshift"
    SQS = "sqs"
    PUBSUB = "pubsub"
    RABBITMQ = "rabbitmq"
    AZURESERVICEBUS = "azureservicebus"


class ApiKeyScope(StrEnum):
    """Values allowed in ``api_keys.scopes`` (a text[] column, so not a model field type)."""

    FULL = "full"
    FRONTEND = "frontend"
    ADMIN = "admin"


class JwtAlgorithm(StrEnum):
    RS256 = "RS256"
