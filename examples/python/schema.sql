-- Agents known to an external inventory, for examples/python/keypoll_mysql.py.
-- Works on MariaDB and MySQL:  mysql -u root test < examples/python/schema.sql
CREATE TABLE IF NOT EXISTS agents (
    id    VARCHAR(8)   NOT NULL PRIMARY KEY,   -- 3 to 8 digits, as the manager requires from scripts
    name  VARCHAR(128) NOT NULL UNIQUE,
    ip    VARCHAR(64)  NOT NULL DEFAULT 'any', -- 'any', an address, or a CIDR range
    `key` VARCHAR(128) NOT NULL,
    KEY agents_ip (ip)
);

-- Sample rows (keys generated with `agentkeys keygen`).
INSERT IGNORE INTO agents (id, name, ip, `key`) VALUES
    ('001', 'web-01', 'any', '675aaf366e6827ee7a77b2f7b4d89e603a21333c09afbb02c40191f199d7c911'),
    ('002', 'db-01', '10.1.2.3', 'ac575526e8bbcddf6654e5aa0a39fa60a0020e5d34ed1370916368bdaf5f0c71');
