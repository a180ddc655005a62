"""The pricing catalog shipped with the source (see aws_on_demand.json for its source and date)."""
