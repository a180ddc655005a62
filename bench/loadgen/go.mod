module governance-gateway/bench/loadgen

go 1.24
