# Security groups: ingress reachable from the whole internet.
# Helpers are functions (not rules) so the package document the gateway queries stays
# deny / warn / require_approval only.
package gateway.security

import data.gateway.lib

# The world sources (0.0.0.0/0, ::/0) an ingress rule admits.
_world_sources(rule) := {c |
	some c in array.concat(lib.blocks(rule, "cidr_blocks"), lib.blocks(rule, "ipv6_cidr_blocks"))
	c in {"0.0.0.0/0", "::/0"}
}

# Terraform accepts protocol names, numbers and "all"; normalise to tcp / udp / icmp / -1.
_protocol(rule) := object.get({"6": "tcp", "17": "udp", "1": "icmp", "all": "-1"}, p, p) if {
	p := lower(sprintf("%v", [rule.protocol]))
}

_covers(rule, _) if _protocol(rule) == "-1"

_covers(rule, service) if {
	_protocol(rule) in service.protocols
	to_number(rule.from_port) <= service.port
	service.port <= to_number(rule.to_port)
}

_all_ports(rule) if _protocol(rule) == "-1"

_all_ports(rule) if {
	_protocol(rule) in {"tcp", "udp"}
	to_number(rule.from_port) <= 0
	to_number(rule.to_port) >= 65535
}

# METADATA
# title: Admin port open to the world
# description: >-
#   A security group ingress rule allows SSH (tcp/22) or RDP (tcp,udp/3389) from 0.0.0.0/0
#   or ::/0, directly, through a port range that covers the port, or through protocol "-1" (all).
# custom:
#   id: sg_admin_port_open_to_world
#   severity: critical
#   remediation: >-
#     restrict the rule's cidr_blocks / ipv6_cidr_blocks to known admin networks, or drop the
#     rule and use SSM Session Manager or a bastion
deny contains v if {
	some r in lib.planned_of("aws_security_group")
	some i, rule in lib.blocks(r.values, "ingress")
	sources := _world_sources(rule)
	count(sources) > 0
	some service in [
		{"name": "SSH", "port": 22, "protocols": {"tcp"}},
		{"name": "RDP", "port": 3389, "protocols": {"tcp", "udp"}},
	]
	_covers(rule, service)
	problem := sprintf("ingress[%d] allows %s (port %d) from %s", [
		i, service.name, service.port,
		concat(", ", sort(sources)),
	])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

# METADATA
# title: All ports open to the world
# description: >-
#   A security group ingress rule allows every port from 0.0.0.0/0 or ::/0: protocol "-1" (all),
#   or a tcp/udp range from 0 to 65535.
# custom:
#   id: sg_all_ports_open_to_world
#   severity: critical
#   remediation: >-
#     open only the ports the service needs (e.g. tcp 443) and restrict cidr_blocks /
#     ipv6_cidr_blocks for anything else
deny contains v if {
	some r in lib.planned_of("aws_security_group")
	some i, rule in lib.blocks(r.values, "ingress")
	sources := _world_sources(rule)
	count(sources) > 0
	_all_ports(rule)
	problem := sprintf("ingress[%d] allows all ports (protocol %v, ports %v-%v) from %s", [
		i, rule.protocol, object.get(rule, "from_port", 0), object.get(rule, "to_port", 0),
		concat(", ", sort(sources)),
	])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

# Ingress rules open to the world as [index, rule, sources], skipping all-port rules, which
# sg_all_ports_open_to_world already reports once.
_world_ingress(values) := [[i, rule, sources] |
	some i, rule in lib.blocks(values, "ingress")
	sources := _world_sources(rule)
	count(sources) > 0
	not _all_ports(rule)
]

# METADATA
# title: Database port open to the world
# description: >-
#   A security group ingress rule admits a database or cache port listed in
#   data.data.security.database_ports (MySQL 3306, PostgreSQL 5432, SQL Server 1433, Oracle
#   1521, MongoDB 27017, Redis 6379, Memcached 11211, Elasticsearch 9200) from 0.0.0.0/0 or
#   ::/0. All-port rules are reported by sg_all_ports_open_to_world.
# custom:
#   id: sg_database_port_open_to_world
#   severity: critical
#   remediation: >-
#     allow the database port only from the application's security group (security_groups) or
#     private CIDR ranges, never from 0.0.0.0/0 or ::/0
deny contains v if {
	some r in lib.planned_of("aws_security_group")
	some [i, rule, sources] in _world_ingress(r.values)
	some service in data.data.security.database_ports
	_covers(rule, service)
	problem := sprintf("ingress[%d] allows %s (port %d) from %s", [
		i, service.name, service.port,
		concat(", ", sort(sources)),
	])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

# METADATA
# title: Plaintext protocol open to the world
# description: >-
#   Encryption in transit: a security group ingress rule admits a protocol that sends
#   credentials and data unencrypted, listed in data.data.security.plaintext_ports (FTP 21,
#   Telnet 23, TFTP 69/udp, POP3 110, IMAP 143), from 0.0.0.0/0 or ::/0. All-port rules are
#   reported by sg_all_ports_open_to_world.
# custom:
#   id: sg_plaintext_protocol_open_to_world
#   severity: high
#   remediation: >-
#     replace the service with its TLS/SSH counterpart (SFTP or FTPS, SSH, POP3S 995, IMAPS 993)
#     and open only that port, or restrict the source to private ranges
deny contains v if {
	some r in lib.planned_of("aws_security_group")
	some [i, rule, sources] in _world_ingress(r.values)
	some service in data.data.security.plaintext_ports
	_covers(rule, service)
	problem := sprintf("ingress[%d] allows unencrypted %s (port %d) from %s", [
		i, service.name, service.port,
		concat(", ", sort(sources)),
	])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

# METADATA
# title: Plain HTTP open to the world
# description: >-
#   A security group ingress rule admits tcp/80 from 0.0.0.0/0 or ::/0. Allowed (it is often
#   only a redirect to HTTPS), but traffic on it is unencrypted.
# custom:
#   id: sg_http_open_to_world
#   severity: low
#   remediation: >-
#     serve HTTPS (tcp/443) only, or make sure port 80 does nothing but redirect to HTTPS
#     (e.g. on the load balancer)
warn contains v if {
	some r in lib.planned_of("aws_security_group")
	some [i, rule, sources] in _world_ingress(r.values)
	_covers(rule, {"port": 80, "protocols": {"tcp"}})
	problem := sprintf("ingress[%d] allows plain HTTP (port 80) from %s", [i, concat(", ", sort(sources))])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}
