"""The cloud: boto3 clients (sandbox moto server or real AWS), one small driver module per resource type."""
