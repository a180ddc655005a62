package gateway.security_test

import data.gateway.fixtures_test as fx
import data.gateway.security

_sg_with_ingress(rules) := object.union(fx.security_group, {"ingress": rules})

_sg_denies(rules) := denies if {
	denies := security.deny with input as fx.plan([fx.rc("aws_security_group", "web", "create", _sg_with_ingress(rules))])
}

_rule(protocol, from, to, cidrs, ipv6) := {
	"protocol": protocol, "from_port": from, "to_port": to,
	"cidr_blocks": cidrs, "ipv6_cidr_blocks": ipv6, "description": "test",
}

test_ssh_from_world_denied if {
	denies := _sg_denies([_rule("tcp", 22, 22, ["0.0.0.0/0"], [])])
	fx.ids(denies) == {"sg_admin_port_open_to_world"}
	some v in denies
	contains(v.msg, "ingress[0] allows SSH (port 22) from 0.0.0.0/0")
	v.address == "aws_security_group.web"
}

test_rdp_from_ipv6_world_denied if {
	denies := _sg_denies([_rule("tcp", 3389, 3389, [], ["::/0"])])
	some v in fx.by_rule(denies, "sg_admin_port_open_to_world")
	contains(v.msg, "RDP (port 3389) from ::/0")
}

test_rdp_udp_denied if {
	denies := _sg_denies([_rule("udp", 3389, 3389, ["0.0.0.0/0"], [])])
	"sg_admin_port_open_to_world" in fx.ids(denies)
}

test_ssh_udp_allowed if {
	denies := _sg_denies([_rule("udp", 22, 22, ["0.0.0.0/0"], [])])
	count(denies) == 0
}

test_port_range_covering_ssh_and_rdp_denied if {
	denies := _sg_denies([_rule("tcp", 20, 4000, ["0.0.0.0/0"], ["::/0"])])
	fx.ids(denies) == {"sg_admin_port_open_to_world", "sg_database_port_open_to_world", "sg_plaintext_protocol_open_to_world"}
	admin := fx.by_rule(denies, "sg_admin_port_open_to_world")
	count(admin) == 2
	some v in admin
	contains(v.msg, "from 0.0.0.0/0, ::/0")
}

test_numeric_protocol_recognised if {
	denies := _sg_denies([_rule("6", 22, 22, ["0.0.0.0/0"], [])])
	"sg_admin_port_open_to_world" in fx.ids(denies)
}

test_all_protocols_denied_by_both_rules if {
	denies := _sg_denies([_rule("-1", 0, 0, ["0.0.0.0/0"], [])])
	fx.ids(denies) == {"sg_admin_port_open_to_world", "sg_all_ports_open_to_world"}
	count(fx.by_rule(denies, "sg_admin_port_open_to_world")) == 2
}

test_protocol_all_alias_denied if {
	denies := _sg_denies([_rule("all", 0, 0, ["0.0.0.0/0"], [])])
	"sg_all_ports_open_to_world" in fx.ids(denies)
}

test_full_tcp_range_denied if {
	denies := _sg_denies([_rule("tcp", 0, 65535, [], ["::/0"])])
	fx.ids(denies) == {"sg_admin_port_open_to_world", "sg_all_ports_open_to_world"}
	some v in fx.by_rule(denies, "sg_all_ports_open_to_world")
	contains(v.msg, "ingress[0] allows all ports (protocol tcp, ports 0-65535) from ::/0")
}

test_all_ports_without_port_fields if {
	denies := _sg_denies([{"protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]}])
	some v in fx.by_rule(denies, "sg_all_ports_open_to_world")
	contains(v.msg, "ports 0-0")
}

test_ssh_from_private_range_allowed if {
	count(_sg_denies([_rule("tcp", 22, 22, ["10.0.0.0/8"], [])])) == 0
}

test_https_from_world_allowed if {
	count(_sg_denies([_rule("tcp", 443, 443, ["0.0.0.0/0"], ["::/0"])])) == 0
}

test_all_ports_from_private_range_allowed if {
	count(_sg_denies([_rule("-1", 0, 0, ["10.0.0.0/8"], null)])) == 0
}

test_range_below_ssh_not_an_admin_port if {
	denies := _sg_denies([_rule("tcp", 0, 21, ["0.0.0.0/0"], [])])
	fx.ids(denies) == {"sg_plaintext_protocol_open_to_world"}
}

test_icmp_from_world_allowed if {
	count(_sg_denies([_rule("icmp", -1, -1, ["0.0.0.0/0"], [])])) == 0
}

test_egress_to_world_allowed if {
	sg := object.union(fx.security_group, {"egress": [_rule("-1", 0, 0, ["0.0.0.0/0"], ["::/0"])]})
	count(security.deny) == 0 with input as fx.plan([fx.rc("aws_security_group", "web", "create", sg)])
}

test_update_checked if {
	sg := _sg_with_ingress([_rule("tcp", 22, 22, ["0.0.0.0/0"], [])])
	denies := security.deny with input as fx.plan([fx.rc("aws_security_group", "web", "update", sg)])
	"sg_admin_port_open_to_world" in fx.ids(denies)
}

test_database_port_from_world_denied if {
	denies := _sg_denies([_rule("tcp", 5432, 5432, ["0.0.0.0/0"], [])])
	fx.ids(denies) == {"sg_database_port_open_to_world"}
	some v in denies
	v.msg == "aws_security_group.web: ingress[0] allows PostgreSQL (port 5432) from 0.0.0.0/0. Remediation: allow the database port only from the application's security group (security_groups) or private CIDR ranges, never from 0.0.0.0/0 or ::/0"
}

test_database_port_from_ipv6_world_denied if {
	denies := _sg_denies([_rule("tcp", 3306, 3306, [], ["::/0"])])
	some v in fx.by_rule(denies, "sg_database_port_open_to_world")
	contains(v.msg, "MySQL/MariaDB (port 3306) from ::/0")
}

test_database_port_udp_only_where_listed if {
	"sg_database_port_open_to_world" in fx.ids(_sg_denies([_rule("udp", 11211, 11211, ["0.0.0.0/0"], [])]))
	count(_sg_denies([_rule("udp", 5432, 5432, ["0.0.0.0/0"], [])])) == 0
}

test_database_port_from_private_range_allowed if {
	count(_sg_denies([_rule("tcp", 5432, 5432, ["10.0.0.0/8"], ["fd00::/8"])])) == 0
}

test_all_ports_rule_not_repeated_per_service if {
	denies := _sg_denies([_rule("-1", 0, 0, ["0.0.0.0/0"], [])])
	not "sg_database_port_open_to_world" in fx.ids(denies)
	not "sg_plaintext_protocol_open_to_world" in fx.ids(denies)
	count(security.warn) == 0 with input as fx.plan([fx.rc("aws_security_group", "web", "create", _sg_with_ingress([_rule("tcp", 0, 65535, ["0.0.0.0/0"], [])]))])
}

test_database_ports_from_data if {
	denies := security.deny with input as fx.plan([fx.rc("aws_security_group", "web", "create", _sg_with_ingress([_rule("tcp", 8443, 8443, ["0.0.0.0/0"], [])]))])
		with data.data.security.database_ports as [{"name": "Admin UI", "port": 8443, "protocols": ["tcp"]}]
	"sg_database_port_open_to_world" in fx.ids(denies)
}

test_plaintext_protocol_from_world_denied if {
	denies := _sg_denies([_rule("tcp", 23, 23, ["0.0.0.0/0"], ["::/0"])])
	fx.ids(denies) == {"sg_plaintext_protocol_open_to_world"}
	some v in denies
	contains(v.msg, "aws_security_group.web: ingress[0] allows unencrypted Telnet (port 23) from 0.0.0.0/0, ::/0. Remediation: replace the service")
}

test_plaintext_udp_protocol_denied if {
	some v in fx.by_rule(_sg_denies([_rule("udp", 69, 69, ["0.0.0.0/0"], [])]), "sg_plaintext_protocol_open_to_world")
	contains(v.msg, "TFTP (port 69)")
}

test_encrypted_counterparts_allowed if {
	every port in [22, 443, 993, 995] {
		not "sg_plaintext_protocol_open_to_world" in fx.ids(_sg_denies([_rule("tcp", port, port, ["0.0.0.0/0"], [])]))
	}
}

test_plaintext_from_private_range_allowed if {
	count(_sg_denies([_rule("tcp", 21, 23, ["192.168.0.0/16"], [])])) == 0
}

_sg_warns(rules) := warns if {
	warns := security.warn with input as fx.plan([fx.rc("aws_security_group", "web", "create", _sg_with_ingress(rules))])
}

test_http_from_world_warned if {
	warns := _sg_warns([_rule("tcp", 80, 80, [], ["::/0"])])
	fx.ids(warns) == {"sg_http_open_to_world"}
	some w in warns
	contains(w.msg, "aws_security_group.web: ingress[0] allows plain HTTP (port 80) from ::/0. Remediation:")
	count(_sg_denies([_rule("tcp", 80, 80, [], ["::/0"])])) == 0
}

test_http_from_private_range_or_https_not_warned if {
	count(_sg_warns([_rule("tcp", 80, 80, ["10.0.0.0/8"], [])])) == 0
	count(_sg_warns([_rule("tcp", 443, 443, ["0.0.0.0/0"], ["::/0"])])) == 0
}
