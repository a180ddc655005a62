# Security groups: ingress reachable from the whole internet.
# Helpers are functions (not rules) so the package document the gateway queries stays
# deny / warn / require_approval only.
package gateway.security

import data.gateway.lib

# The world-open ingress rules of a security group, computed once per group (function calls
# with the same ground arguments are memoised within a query) and shared by the rules below:
#   open: [index, rule, sources, protocol, range] for each ingress rule that admits 0.0.0.0/0
#     or ::/0 (sources) and has a protocol, normalised from Terraform's names, numbers and
#     "all" to tcp / udp / icmp / -1 (a rule without one covers no port and is never an all-port
#     rule); range is [[from_port, to_port]] as numbers, or [] when either is not numeric.
#   ported: [index, sources, protocol, from, to] for the open rules with a port range that are
#     not all-port rules (sg_all_ports_open_to_world reports those once). Such a rule is never
#     protocol "-1", so it covers a service port exactly when its protocol is one of the
#     service's and the port lies in [from, to].
# Nested blocks that are not arrays hold nothing, as with lib.blocks.
_world_ingress(values) := {"open": open, "ported": ported} if {
	open := [[i, rule, sources, protocol, range] |
		rules := values.ingress
		is_array(rules)
		some i, rule in rules
		sources := {c |
			some key in ["cidr_blocks", "ipv6_cidr_blocks"]
			cidrs := rule[key]
			is_array(cidrs)
			some c in cidrs
			c in {"0.0.0.0/0", "::/0"}
		}
		count(sources) > 0
		name := lower(sprintf("%v", [rule.protocol]))
		protocol := object.get({"6": "tcp", "17": "udp", "1": "icmp", "all": "-1"}, name, name)
		range := [[from, to] | from := to_number(rule.from_port); to := to_number(rule.to_port)]
	]
	ported := [[i, sources, protocol, from, to] |
		some [i, _, sources, protocol, [[from, to]]] in open
		not _all_ports(protocol, [[from, to]])
	]
}

# Whether a rule with this protocol and range covers the service's port.
_covers("-1", _, _)

_covers(protocol, [[from, to]], service) if {
	protocol in service.protocols
	from <= service.port
	service.port <= to
}

# Whether a rule with this protocol and range admits every port.
_all_ports("-1", _)

_all_ports(protocol, [[from, to]]) if {
	protocol in {"tcp", "udp"}
	from <= 0
	to >= 65535
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
	some r in lib.planned_by_type.aws_security_group
	some [i, _, sources, protocol, range] in _world_ingress(r.values).open
	some service in [
		{"name": "SSH", "port": 22, "protocols": {"tcp"}},
		{"name": "RDP", "port": 3389, "protocols": {"tcp", "udp"}},
	]
	_covers(protocol, range, service)
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
	some r in lib.planned_by_type.aws_security_group
	some [i, rule, sources, protocol, range] in _world_ingress(r.values).open
	_all_ports(protocol, range)
	problem := sprintf("ingress[%d] allows all ports (protocol %v, ports %v-%v) from %s", [
		i, rule.protocol, object.get(rule, "from_port", 0), object.get(rule, "to_port", 0),
		concat(", ", sort(sources)),
	])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

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
	some r in lib.planned_by_type.aws_security_group
	some [i, sources, protocol, from, to] in _world_ingress(r.values).ported
	some service in data.data.security.database_ports
	service.port <= to
	from <= service.port
	protocol in service.protocols
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
	some r in lib.planned_by_type.aws_security_group
	some [i, sources, protocol, from, to] in _world_ingress(r.values).ported
	some service in data.data.security.plaintext_ports
	from <= service.port
	service.port <= to
	protocol in service.protocols
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
	some r in lib.planned_by_type.aws_security_group
	some [i, sources, protocol, from, to] in _world_ingress(r.values).ported
	from <= 80
	80 <= to
	protocol == "tcp"
	problem := sprintf("ingress[%d] allows plain HTTP (port 80) from %s", [i, concat(", ", sort(sources))])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}
