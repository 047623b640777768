/* Generated from the JSON files in tests/vectors by ffi/tests/c_vectors.rs; do not edit.
 * Refresh with `make c-vectors`. */
#ifndef AGENTKEYS_TEST_VECTORS_H
#define AGENTKEYS_TEST_VECTORS_H

#include <stddef.h>

struct name_case { const char *name; size_t name_len; int valid; };
static const struct name_case NAME_CASES[] = {
    { "nn", 2, 1 },
    { "user-1", 6, 1 },
    { "user_1", 6, 1 },
    { "user.1", 6, 1 },
    { "agent..", 7, 1 },
    { "uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 128, 1 },
    { "n", 1, 0 },
    { "", 0, 0 },
    { "uxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 129, 0 },
    { "user*1", 6, 0 },
    { "inv;agent", 9, 0 },
    { "bad name!", 9, 0 },
    { ".hidden", 7, 0 },
    { "..", 2, 0 },
    { "\303\241gent", 6, 0 },
};
#define NAME_CASES_LEN 15

struct ip_case { const char *input; size_t input_len; int valid; const char *canonical; size_t canonical_len; const char *file; size_t file_len; };
static const struct ip_case IP_CASES[] = {
    { "any", 3, 1, "any", 3, "any", 3 },
    { "10.10.10.10", 11, 1, "10.10.10.10", 11, "10.10.10.10", 11 },
    { "10.10.10.10/0", 13, 1, "10.10.10.10/0", 13, "10.10.10.10/0", 13 },
    { "10.10.10.1/24", 13, 1, "10.10.10.1/24", 13, "10.10.10.1/24", 13 },
    { "10.10.10.1/32", 13, 1, "10.10.10.1/32", 13, "10.10.10.1", 10 },
    { "10.0.0.0/255.0.0.0", 18, 1, "10.0.0.0/255.0.0.0", 18, "10.0.0.0/8", 10 },
    { "::ffff:10.1.1.1", 15, 1, "10.1.1.1", 8, "10.1.1.1", 8 },
    { "02db:4660:46af:e523:d05e:a62e:4ca7:8e58", 39, 1, "02DB:4660:46AF:E523:D05E:A62E:4CA7:8E58", 39, "02DB:4660:46AF:E523:D05E:A62E:4CA7:8E58", 39 },
    { "::1", 3, 1, "0000:0000:0000:0000:0000:0000:0000:0001", 39, "0000:0000:0000:0000:0000:0000:0000:0001", 39 },
    { "fe80::/64", 9, 1, "FE80:0000:0000:0000:0000:0000:0000:0000/64", 42, "FE80:0000:0000:0000:0000:0000:0000:0000/64", 42 },
    { "10.10.10", 8, 0, NULL, 0, NULL, 0 },
    { "999.9999.999.999", 16, 0, NULL, 0, NULL, 0 },
    { "10.10.10.257", 12, 0, NULL, 0, NULL, 0 },
    { "01.01.01.01", 11, 0, NULL, 0, NULL, 0 },
    { "10.10.10.10/", 12, 0, NULL, 0, NULL, 0 },
    { "10.1.1.1/33", 11, 0, NULL, 0, NULL, 0 },
    { "56FE::2159:5BBC::6594", 21, 0, NULL, 0, NULL, 0 },
    { "11AA:11AA:11AA:11AA:11AA:11AA:11AA:11AA:11AA", 44, 0, NULL, 0, NULL, 0 },
    { "", 0, 0, NULL, 0, NULL, 0 },
};
#define IP_CASES_LEN 19

struct groups_case { const char *groups; size_t groups_len; int ok; const char *dedup; size_t dedup_len; const char *error; size_t error_len; };
static const struct groups_case GROUPS_CASES[] = {
    { "Group1", 6, 1, "Group1", 6, NULL, 0 },
    { "Group1,Group2,Group1", 20, 1, "Group1,Group2", 13, NULL, 0 },
    { "", 0, 0, NULL, 0, "ERROR: Invalid group name: Empty Group", 38 },
    { "Group\0771", 7, 0, NULL, 0, "ERROR: Invalid group name: Group\0771... characters '\134/:*\077\042<>|,' are prohibited", 76 },
    { "Group1,", 7, 0, NULL, 0, "ERROR: Invalid group name: Group1,... cannot start or end with ','", 66 },
    { ",", 1, 0, NULL, 0, "ERROR: Invalid group name: ,... characters '\134/:*\077\042<>|,' are prohibited", 70 },
};
#define GROUPS_CASES_LEN 6

struct keys_line_case { const char *line; size_t line_len; unsigned kind; const char *id; size_t id_len; const char *name; size_t name_len; const char *ip; size_t ip_len; const char *key; size_t key_len; };
static const struct keys_line_case KEYS_LINE_CASES[] = {
    { "001 Server1 any e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a", 80, 0, "001", 3, "Server1", 7, "any", 3, "e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a", 64 },
    { "002 ServerProd 192.246.247.247 b0c5548beda537daddb4da698424d0856c3d4e760eaced803d58c07ad1a95f4c", 95, 0, "002", 3, "ServerProd", 10, "192.246.247.247", 15, "b0c5548beda537daddb4da698424d0856c3d4e760eaced803d58c07ad1a95f4c", 64 },
    { "003 DBServer 192.168.0.1/24 8ec4843da9e61647d1ec3facab542acc26bd0e08ffc010086bb3a6fc22f6f65b", 92, 0, "003", 3, "DBServer", 8, "192.168.0.1/24", 14, "8ec4843da9e61647d1ec3facab542acc26bd0e08ffc010086bb3a6fc22f6f65b", 64 },
    { "005 v6 2001:0DB8:0000:000B:0000:0000:0000:001A e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a", 111, 0, "005", 3, "v6", 2, "2001:0DB8:0000:000B:0000:0000:0000:001A", 39, "e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a", 64 },
    { "1026 rawagent any e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a", 82, 0, "1026", 4, "rawagent", 8, "any", 3, "e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a", 64 },
    { "004 !data3 any ed52060a133343dbc74474c19aaad8fb7dddd9a4b5965ebbe9edb2a73fd11a17", 79, 1, "004", 3, NULL, 0, NULL, 0, NULL, 0 },
    { "004 #data3 any ed52060a133343dbc74474c19aaad8fb7dddd9a4b5965ebbe9edb2a73fd11a17", 79, 1, "004", 3, NULL, 0, NULL, 0, NULL, 0 },
    { "# anything at all", 17, 2, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { " 001 x any k", 12, 2, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "", 0, 3, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "001", 3, 3, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "001 name", 8, 3, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "001 name any", 12, 3, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "006 bad 999.1.1.1 e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a", 82, 3, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "001 test_name any TopSecret", 27, 0, "001", 3, "test_name", 9, "any", 3, "TopSecret", 9 },
};
#define KEYS_LINE_CASES_LEN 15

struct request_case { const char *request; size_t request_len; const char *password; size_t password_len; const char *manager_version; size_t manager_version_len; const char *source_ip; size_t source_ip_len; int use_source_ip; int ok; const char *error; size_t error_len; const char *name; size_t name_len; const char *ip; size_t ip_len; const char *groups; size_t groups_len; const char *key_hash; size_t key_hash_len; const char *version; size_t version_len; };
static const struct request_case REQUEST_CASES[] = {
    { "OSSEC A:'agent1'\012", 17, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 1, NULL, 0, "agent1", 6, "192.0.0.1", 9, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:'agent2' G:'Group1'\012", 28, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 1, NULL, 0, "agent2", 6, NULL, 0, "Group1", 6, NULL, 0, NULL, 0 },
    { "OSSEC A:'agent3' G:'Group1,Group2'\012", 35, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 1, NULL, 0, "agent3", 6, NULL, 0, "Group1,Group2", 13, NULL, 0, NULL, 0 },
    { "OSSEC A:'agent4' G:'Group1,Group2,Group1'\012", 42, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 1, NULL, 0, "agent4", 6, NULL, 0, "Group1,Group2", 13, NULL, 0, NULL, 0 },
    { "OSSEC PASS: pass123 OSSEC A:'agent5'\012", 37, "pass123", 7, "v4.5.0", 6, "192.0.0.1", 9, 1, 1, NULL, 0, "agent5", 6, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:'agent6' IP:'192.0.0.2'\012", 32, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 1, NULL, 0, "agent6", 6, "192.0.0.2", 9, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:'agent7' K:'07f05add1049244e7e71ad0f54f24d8094cd8f8b'\012", 62, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 1, NULL, 0, "agent7", 6, NULL, 0, NULL, 0, "07f05add1049244e7e71ad0f54f24d8094cd8f8b", 40, NULL, 0 },
    { "OSSEC A:'agent8' IP:'192.0.0.3' K:'ABC123'\012", 43, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 1, NULL, 0, "agent8", 6, "192.0.0.3", 9, NULL, 0, "ABC123", 6, NULL, 0 },
    { "OSSEC PASS: pass123 OSSEC A:'agent9' IP:'192.0.0.3' K:'ABC123'\012", 63, "pass123", 7, "v4.5.0", 6, "192.0.0.1", 9, 1, 1, NULL, 0, "agent9", 6, "192.0.0.3", 9, NULL, 0, "ABC123", 6, NULL, 0 },
    { "OSSEC A:'agent10' G:'Group1,Group2' IP:'192.0.0.3' K:'ABC123'\012", 62, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 1, NULL, 0, "agent10", 7, "192.0.0.3", 9, "Group1,Group2", 13, "ABC123", 6, NULL, 0 },
    { "OSSEC A:'agent11' V:'v4.5.0'\012", 29, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 1, NULL, 0, "agent11", 7, NULL, 0, NULL, 0, NULL, 0, "v4.5.0", 6 },
    { "OSSEC A:'agent0'\012", 17, "pass123", 7, "v4.5.0", 6, "192.0.0.1", 9, 1, 0, "ERROR: Invalid password", 23, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC PASS: pass124 OSSEC A:'agent0'\012", 37, "pass123", 7, "v4.5.0", 6, "192.0.0.1", 9, 1, 0, "ERROR: Invalid password", 23, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC PASS: pass124 OSSEC A:'agent0'\012", 37, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 0, "ERROR: Invalid request for new agent", 36, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:''\012", 11, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 0, "ERROR: Invalid agent name: ", 27, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:'inv;agent'\012", 20, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 0, "ERROR: Invalid agent name: inv;agent", 36, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:'agent3' G:'Group1,Group2\012", 34, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 0, "ERROR: Unterminated group field", 31, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:'agent3' G:'Group1,Group2' IP:'192.0.0.3 K:'ABC123'\012", 60, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 0, "ERROR: Unterminated IP field", 28, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:'agent3' G:'Group1,Group2' IP:'192.0.0.3' K:'ABC123\012", 60, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 0, "ERROR: Unterminated key field", 29, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:'agent3' V:'v4.5.0\012", 27, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 0, "ERROR: Unterminated version field", 33, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:'agent4' V:'v4.6.0'\012", 28, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 0, "ERROR: Agent version must be lower or equal to manager version", 62, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:'xx' IP:'1.2.3.4' G:'g'\012", 32, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 1, 1, NULL, 0, "xx", 2, "1.2.3.4", 7, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:'agent1'\012", 17, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 0, 1, NULL, 0, "agent1", 6, "any", 3, NULL, 0, NULL, 0, NULL, 0 },
    { "OSSEC A:'agent2' IP:'src'\012", 26, NULL, 0, "v4.5.0", 6, "192.0.0.1", 9, 0, 1, NULL, 0, "agent2", 6, "192.0.0.1", 9, NULL, 0, NULL, 0, NULL, 0 },
};
#define REQUEST_CASES_LEN 24

struct reply_case { const char *reply; size_t reply_len; int ok; const char *record; size_t record_len; const char *server_error; size_t server_error_len; };
static const struct reply_case REPLY_CASES[] = {
    { "OSSEC K:'006 ubuntu1610 192.168.1.1 95fefb8f0fe86bb8121f3f5621f2916c15a998728b3d50479aa64e6430b5a9f'", 100, 1, "006 ubuntu1610 192.168.1.1 95fefb8f0fe86bb8121f3f5621f2916c15a998728b3d50479aa64e6430b5a9f", 90, NULL, 0 },
    { "OSSEC K:'1026 rawagent any e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a'\012\012", 94, 1, "1026 rawagent any e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a", 82, NULL, 0 },
    { "OSSEC KEY WRONG FORMAT", 22, 0, NULL, 0, NULL, 0 },
    { "OSSEC K:'1'", 11, 0, NULL, 0, NULL, 0 },
    { "OSSEC K:'006 ubuntu1610'", 24, 0, NULL, 0, NULL, 0 },
    { "OSSEC K:'006 ubuntu1610 192.168.1.1'", 36, 0, NULL, 0, NULL, 0 },
    { "OSSEC K:'006 ubuntu1610 NOT_AN_IP 95fefb8f0fe86bb8121f3f5621f2916c15a998728b3d50479aa64e6430b5a9f'", 98, 0, NULL, 0, NULL, 0 },
    { "ERROR: Invalid password. Unable to add agent", 44, 0, NULL, 0, "Invalid password", 16 },
    { "ERROR: Duplicated agent name: x\012\012ERROR: Unable to add agent.\012\012", 62, 0, NULL, 0, "Duplicated agent name: x", 24 },
};
#define REPLY_CASES_LEN 9

struct keypoll_case { const char *output; size_t output_len; int ok; const char *record; size_t record_len; int has_script_error; int code; const char *message; size_t message_len; };
static const struct keypoll_case KEYPOLL_CASES[] = {
    { "{\042error\042:0,\042data\042:{\042id\042:\042001\042,\042name\042:\042wazuh_agent1\042,\042ip\042:\042any\042,\042key\042:\042675aaf366e6827ee7a77b2f7b4d89e603a21333c09afbb02c40191f199d7c911\042}}", 137, 1, "001 wazuh_agent1 any 675aaf366e6827ee7a77b2f7b4d89e603a21333c09afbb02c40191f199d7c911", 85, 0, 0, NULL, 0 },
    { "{\012    \042error\042: 0,\012    \042data\042: {\012        \042id\042: \042001\042,\012        \042name\042: \042my_agent\042,\012        \042ip\042: \042192.168.1.100\042,\012        \042key\042: \042ac575526e8bbcddf6654e5aa0a39fa60a0020e5d34ed1370916368bdaf5f0c71\042\012    }\012}\012", 202, 1, "001 my_agent 192.168.1.100 ac575526e8bbcddf6654e5aa0a39fa60a0020e5d34ed1370916368bdaf5f0c71", 91, 0, 0, NULL, 0 },
    { "{\042error\042: 4, \042message\042: \042No agent key found\042}", 45, 0, NULL, 0, 1, 4, "No agent key found", 18 },
    { "{\042error\042: 1, \042message\042: \042Your error message\042}", 45, 0, NULL, 0, 1, 1, "Your error message", 18 },
    { "{\042data\042:{\042id\042:\042001\042,\042name\042:\042a1\042,\042ip\042:\042any\042,\042key\042:\042k\042}}", 54, 0, NULL, 0, 0, 0, NULL, 0 },
    { "{\042error\042:0}", 11, 0, NULL, 0, 0, 0, NULL, 0 },
    { "{\042error\042:0,\042data\042:{\042id\042:\042001\042,\042name\042:\042a1\042,\042ip\042:\042any\042}}", 54, 0, NULL, 0, 0, 0, NULL, 0 },
    { "{\042error\042:0,\042data\042:{\042id\042:1,\042name\042:\042a1\042,\042ip\042:\042any\042,\042key\042:\042k\042}}", 60, 0, NULL, 0, 0, 0, NULL, 0 },
    { "{\042error\042:\0420\042,\042data\042:{\042id\042:\042001\042,\042name\042:\042a1\042,\042ip\042:\042any\042,\042key\042:\042k\042}}", 66, 0, NULL, 0, 0, 0, NULL, 0 },
    { "{\042error\042:0,\042data\042:{\042id\042:\04242\042,\042name\042:\042a1\042,\042ip\042:\042any\042,\042key\042:\042k\042}}", 63, 0, NULL, 0, 0, 0, NULL, 0 },
    { "{\042error\042:0,\042data\042:{\042id\042:\042001\042,\042name\042:\042bad name\042,\042ip\042:\042any\042,\042key\042:\042k\042}}", 70, 0, NULL, 0, 0, 0, NULL, 0 },
    { "{\042error\042:0,\042data\042:{\042id\042:\042001\042,\042name\042:\042a1\042,\042ip\042:\042300.1.1.1\042,\042key\042:\042k\042}}", 70, 0, NULL, 0, 0, 0, NULL, 0 },
    { "{\042error\042:0,\042data\042:{\042id\042:\042001\042,\042name\042:\042a1\042,\042ip\042:\042any\042,\042key\042:\042kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\042}}", 192, 0, NULL, 0, 0, 0, NULL, 0 },
    { "not json", 8, 0, NULL, 0, 0, 0, NULL, 0 },
};
#define KEYPOLL_CASES_LEN 14

struct key_hash_case { const char *id; size_t id_len; const char *name; size_t name_len; const char *key; size_t key_len; const char *hash; size_t hash_len; };
static const struct key_hash_case KEY_HASH_CASES[] = {
    { "001", 3, "Agent1", 6, "1234", 4, "15153d246b71789195b48778875af94f9378ecf9", 40 },
    { "001", 3, "debian10", 8, "6dd186d1740f6c80d4d380ebe72c8061db175881e07e809eb44404c836a7ef96", 64, "e0735a4a2c9bf633bac9b58f194cc8649537b394", 40 },
    { "001", 3, "Agent1", 6, "6dd186d1740f6c80d4d380ebe72c8061db175881e07e809eb44404c836a7ef96", 64, "0965e68d9935a35530910bf32d35052995efe7bd", 40 },
    { "001", 3, "test_name", 9, "TopSecret", 9, "5f7b611efd8882c0b11d87d284158faefafddf21", 40 },
    { "001", 3, "user1", 5, "998bb619f50225fa0a4ec3b2a4888ae0a9b1d249189827462a5689d1d5586deb", 64, "74ccacd341a6087b2d3a31656b07664a9c5bb307", 40 },
    { "001", 3, "duplicated_key_agent_dup_name", 29, "TopSecret", 9, "6b874e529fd8639735bf497782a0f643ac1e46ff", 40 },
    { "001", 3, "test_user", 9, "48a99873149358e48b13273c4ad07c44ed402bcb71fc94869f3e76b2f27637db", 64, "504f2f52d0e9d5fd9a12875aa86fa588dab2a43e", 40 },
};
#define KEY_HASH_CASES_LEN 7

struct encryption_key_case { const char *id; size_t id_len; const char *name; size_t name_len; const char *key; size_t key_len; const char *encryption_key; size_t encryption_key_len; const char *aes_key; size_t aes_key_len; };
static const struct encryption_key_case ENCRYPTION_KEY_CASES[] = {
    { "001", 3, "Agent1", 6, "6dd186d1740f6c80d4d380ebe72c8061db175881e07e809eb44404c836a7ef96", 64, "e93ff9740db2b718d4ad3b548f25d7aa732bb641f11e89a", 47, "e93ff9740db2b718d4ad3b548f25d7aa", 32 },
    { "001", 3, "test_name", 9, "TopSecret", 9, "6958b43cb096e036f872d65d6a4dc01b79cbc62105a9ef0", 47, "6958b43cb096e036f872d65d6a4dc01b", 32 },
    { "002", 3, "dbserver", 8, "363a99a6e9c9a8b6bb766d676453538e0cb20162f84b36472d99cfbef4928440", 64, "c8e844b0ceb86c800555d1a176a29c223e83d751df74354", 47, "c8e844b0ceb86c800555d1a176a29c22", 32 },
};
#define ENCRYPTION_KEY_CASES_LEN 3

struct export_case { const char *base64; size_t base64_len; int ok; const char *record; size_t record_len; };
static const struct export_case EXPORT_CASES[] = {
    { "MDEzIHVidW50dTIyYWdlbnQgYW55IDVmMjIwMmI2MmVkNTJjYTY3ZWIwZGMyZmRmZDZmODlmNmNlMDllZjNjNTY3NTk2ZTNhMTU3MzEzNmI3NjNkYmY=", 116, 1, "013 ubuntu22agent any 5f2202b62ed52ca67eb0dc2fdfd6f89f6ce09ef3c567596e3a1573136b763dbf", 86 },
    { "MDEzLWludmFsaWRmb3JtYXQtYW55IDVmMjIwMmI2MmVkNTJjYTY3ZWIwZGMyZmRmZDZmODlmNmNlMDllZjNjNTY3NTk2ZTNhMTU3MzEzNmI3NjNkYmY=", 116, 0, NULL, 0 },
    { "MDAxIHNlcnZlcjEgYW55IGUyMGUwMzk0ZGNhNzFiYWNkZWE1N2Q0Y2EyNWQyMDNmODM2ZWNhMTJlZWNhMWVjMTUwYzJlNWY0MzA5YTY1M2E=", 108, 1, "001 server1 any e20e0394dca71bacdea57d4ca25d203f836eca12eeca1ec150c2e5f4309a653a", 80 },
};
#define EXPORT_CASES_LEN 3

struct hkdf_case { const char *label; size_t label_len; const char *ikm_hex; size_t ikm_hex_len; const char *ikm_utf8; size_t ikm_utf8_len; const char *key_hex; size_t key_hex_len; };
static const struct hkdf_case HKDF_CASES[] = {
    { "WAZUH-ENROLL-TOKEN-KEY", 22, "101112131415161718191a1b1c1d1e1f", 32, NULL, 0, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64 },
    { "WAZUH-ENROLL-JWT-KEY", 20, NULL, 0, "MyEnrollmentSecret123", 21, "eeecc651648436211783381e38d0a661bfecc2888a4e23b28c94f415f98616b6", 64 },
    { "WAZUH-REENROLL-KEY", 18, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 64, NULL, 0, "668a626c590cda183b17c0e0fd07fd927cf506dab709c86ffa5460eb26510964", 64 },
};
#define HKDF_CASES_LEN 3

struct jwt_sign_case { const char *key_hex; size_t key_hex_len; const char *kid; size_t kid_len; long long iat; const char *jti_hex; size_t jti_hex_len; const char *bearer; size_t bearer_len; };
static const struct jwt_sign_case JWT_SIGN_CASES[] = {
    { "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, "AAECAwQFBgcICQoLDA0ODw", 22, 1700000000, "000102030405060708090a0b0c0d0e0f", 32, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.7sTfFRpPNoSg7QPO1h6FWCvY2Islau-E0gQnP1PWelk", 251 },
    { "eeecc651648436211783381e38d0a661bfecc2888a4e23b28c94f415f98616b6", 64, NULL, 0, 1700000000, "000102030405060708090a0b0c0d0e0f", 32, "eyJhbGciOiJIUzI1NiIsInR5cCI6IndhenVoLWVucm9sbCtqd3QifQ.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.Ll9rqCc4D0emY3xUV99-yD-ep0Xp7CI1qKG8Rzkvm8o", 210 },
    { "668a626c590cda183b17c0e0fd07fd927cf506dab709c86ffa5460eb26510964", 64, "001", 3, 1700000000, "000102030405060708090a0b0c0d0e0f", 32, "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAwMSIsInR5cCI6IndhenVoLWVucm9sbCtqd3QifQ.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.VHOLP9dCq-VsjLzxZeuL5vAH0OvHLbLml4Z2_LETvXc", 226 },
};
#define JWT_SIGN_CASES_LEN 3

struct jwt_verify_case { const char *name; size_t name_len; const char *bearer; size_t bearer_len; const char *key_hex; size_t key_hex_len; long long now; int ok; const char *kid; size_t kid_len; const char *error; size_t error_len; };
static const struct jwt_verify_case JWT_VERIFY_CASES[] = {
    { "valid at iat", 12, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.7sTfFRpPNoSg7QPO1h6FWCvY2Islau-E0gQnP1PWelk", 251, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000000, 1, "AAECAwQFBgcICQoLDA0ODw", 22, NULL, 0 },
    { "valid at exp+skew", 17, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.7sTfFRpPNoSg7QPO1h6FWCvY2Islau-E0gQnP1PWelk", 251, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000090, 1, "AAECAwQFBgcICQoLDA0ODw", 22, NULL, 0 },
    { "expired beyond skew", 19, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.7sTfFRpPNoSg7QPO1h6FWCvY2Islau-E0gQnP1PWelk", 251, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000091, 0, NULL, 0, "stale_token", 11 },
    { "issued in the future beyond skew", 32, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.7sTfFRpPNoSg7QPO1h6FWCvY2Islau-E0gQnP1PWelk", 251, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1699999969, 0, NULL, 0, "stale_token", 11 },
    { "wrong key", 9, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.7sTfFRpPNoSg7QPO1h6FWCvY2Islau-E0gQnP1PWelk", 251, "eeecc651648436211783381e38d0a661bfecc2888a4e23b28c94f415f98616b6", 64, 1700000000, 0, NULL, 0, "invalid_signature", 17 },
    { "signature altered", 17, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.7sTfFRpPNoSg7QPO1h6FWCvY2Islau-E0gQnP1PWeAA", 251, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000000, 0, NULL, 0, "invalid_signature", 17 },
    { "padded base64url", 16, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.7sTfFRpPNoSg7QPO1h6FWCvY2Islau-E0gQnP1PWelk=", 252, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000000, 0, NULL, 0, "invalid_request", 15 },
    { "header members out of order", 27, "eyJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0IiwiYWxnIjoiSFMyNTYiLCJraWQiOiJBQUVDQXdRRkJnY0lDUW9MREEwT0R3In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.jBnsYRxaD3sR3-QAYjgxUrP9ugPOU7KzVvNhV6y9eDo", 251, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000000, 0, NULL, 0, "invalid_request", 15 },
    { "alg none", 8, "eyJhbGciOiJub25lIiwia2lkIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsInR5cCI6IndhenVoLWVucm9sbCtqd3QifQ.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.wTrtXxzmiaO6etK9Cs_3-ErQV3NuMPHbkE4U0b_Nb9k", 250, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000000, 0, NULL, 0, "invalid_request", 15 },
    { "wrong typ", 9, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJKV1QifQ.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0.1CEaGjjX7hrz4dEyuJDVxfq1QEeH86RKUgHvfhFduHY", 234, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000000, 0, NULL, 0, "invalid_request", 15 },
    { "extra claim", 11, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMCwic3ViIjoieCJ9.b56VQDlwjoq2BcfmbYaLbmQ6boY27cuBjWsRt3Eo45s", 264, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000000, 0, NULL, 0, "invalid_request", 15 },
    { "missing jti", 11, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwfQ.qDyWacEShUl2Q6H1pHMoqqjqFSkmRZ_ImZW_oYEp6Aw", 210, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000000, 0, NULL, 0, "invalid_request", 15 },
    { "whitespace in claims", 20, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOiAxNzAwMDAwMDYwLCAiaWF0IjogMTcwMDAwMDAwMCwgImp0aSI6ICJBQUVDQXdRRkJnY0lDUW9MREEwT0R3IiwgIm5iZiI6IDE3MDAwMDAwMDB9.PQtd8B3tBCsbThCOYFQlIXaeujrJnu0TqlXMK57hrG8", 260, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000000, 0, NULL, 0, "invalid_request", 15 },
    { "duplicate member", 16, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwiaWF0IjoxNzAwMDAwMDAwLCJqdGkiOiJBQUVDQXdRRkJnY0lDUW9MREEwT0R3IiwibmJmIjoxNzAwMDAwMDAwfQ.VXN-hwuAb8po-Av952ybHeV2b8d4LakuSUhT_jsCUko", 274, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000000, 0, NULL, 0, "invalid_request", 15 },
    { "two parts only", 14, "eyJhbGciOiJIUzI1NiIsImtpZCI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCJ0eXAiOiJ3YXp1aC1lbnJvbGwrand0In0.eyJleHAiOjE3MDAwMDAwNjAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsIm5iZiI6MTcwMDAwMDAwMH0", 207, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000000, 0, NULL, 0, "invalid_request", 15 },
    { "over 4096 bytes", 15, NULL, 4351, "5da72b786a15757caa8d825a74a3474c3f15b048fd1064b49863ffc715a95860", 64, 1700000000, 0, NULL, 0, "invalid_request", 15 },
};
#define JWT_VERIFY_CASES_LEN 16

struct token_case { const char *token; size_t token_len; int ok; const char *host; size_t host_len; long port; const char *prefix; size_t prefix_len; const char *pin_hex; size_t pin_hex_len; int credential; const char *kid; size_t kid_len; const char *secret_hex; size_t secret_hex_len; };
static const struct token_case TOKEN_CASES[] = {
    { "eyJ2ZXIiOjEsImFkciI6InNpZW0uZXhhbXBsZS5sb2NhbCIsInBpbiI6IllKSGNObVh0WG9NOGpaUmZrLXVfRkxOd0lNenVkek5PUkplc0x2TlpDcUkifQ", 118, 1, "siem.example.local", 18, 1517, "wazuh-manager", 13, "6091dc3665ed5e833c8d945f93ebbf14b37020ccee77334e4497ac2ef3590aa2", 64, 0, NULL, 0, NULL, 0 },
    { "eyJ2ZXIiOjEsImFkciI6IjEwLjAuMC41Ojg0NDMvY3VzdG9tIiwicGluIjoiWUpIY05tWHRYb004alpSZmstdV9GTE53SU16dWR6Tk9SSmVzTHZOWkNxSSIsImtleSI6IkFBRUNBd1FGQmdjSUNRb0xEQTBPRHhBUkVoTVVGUllYR0JrYUd4d2RIaDgifQ", 190, 1, "10.0.0.5", 8, 8443, "custom", 6, "6091dc3665ed5e833c8d945f93ebbf14b37020ccee77334e4497ac2ef3590aa2", 64, 1, "AAECAwQFBgcICQoLDA0ODw", 22, "101112131415161718191a1b1c1d1e1f", 32 },
    { "eyJ2ZXIiOjEsImFkciI6IltmZDAwOjoxXS8iLCJwaW4iOiJZSkhjTm1YdFhvTThqWlJmay11X0ZMTndJTXp1ZHpOT1JKZXNMdk5aQ3FJIn0", 107, 1, "fd00::1", 7, 1517, "", 0, "6091dc3665ed5e833c8d945f93ebbf14b37020ccee77334e4497ac2ef3590aa2", 64, 0, NULL, 0, NULL, 0 },
    { "eyJ2ZXIiOjEsImFkciI6Im0uZXhhbXBsZSIsInBpbiI6IllKSGNObVh0WG9NOGpaUmZrLXVfRkxOd0lNenVkek5PUkplc0x2TlpDcUkiLCJjYSI6Ii0tLS0tQkVHSU4gQ0VSVElGSUNBVEUtLS0tLVxuQUE9PVxuLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLVxuIn0", 199, 0, NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL, 0 },
    { "eyJ2ZXIiOjEsImFkciI6Im0uZXhhbXBsZSJ9", 36, 0, NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL, 0 },
    { "eyJ2ZXIiOjIsImFkciI6Im0uZXhhbXBsZSIsInBpbiI6IllKSGNObVh0WG9NOGpaUmZrLXVfRkxOd0lNenVkek5PUkplc0x2TlpDcUkifQ", 106, 0, NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL, 0 },
    { "eyJ2ZXIiOjEsImFkciI6Im0uZXhhbXBsZSIsInBpbiI6ImVIaDRlSGg0ZUhoNGVIaDRlSGg0ZUhoNGVIaDRlSGg0ZUhoNGVIaDRlQSJ9", 104, 0, NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL, 0 },
    { "eyJ2ZXIiOjEsImFkciI6Im0uZXhhbXBsZSIsInBpbiI6IllKSGNObVh0WG9NOGpaUmZrLXVfRkxOd0lNenVkek5PUkplc0x2TlpDcUkiLCJrZXkiOiJlSGg0ZUhoNGVIaDRlSGg0ZUhoNGVIaDRlSGg0ZUhoNGVIaDRlSGg0ZUEifQ", 174, 0, NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL, 0 },
    { "eyJ2ZXIiOjEsImFkciI6Im0uZXhhbXBsZSIsInBpbiI6IllKSGNObVh0WG9NOGpaUmZrLXVfRkxOd0lNenVkek5PUkplc0x2TlpDcUkiLCJleHAiOjF9", 116, 0, NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL, 0 },
    { "eyJ2ZXIiOjEsImFkciI6Im0gZXhhbXBsZSIsInBpbiI6IllKSGNObVh0WG9NOGpaUmZrLXVfRkxOd0lNenVkek5PUkplc0x2TlpDcUkifQ", 106, 0, NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL, 0 },
    { "eyJ2ZXIiOjEsImFkciI6Im0uZXhhbXBsZTowIiwicGluIjoiWUpIY05tWHRYb004alpSZmstdV9GTE53SU16dWR6Tk9SSmVzTHZOWkNxSSJ9", 108, 0, NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL, 0 },
    { "eyJ2ZXIiOjEsImFkciI6Im0uZXhhbXBsZSIsInBpbiI6IllKSGNObVh0WG9NOGpaUmZrLXVfRkxOd0lNenVkek5PUkplc0x2TlpDcUkifQ==", 108, 0, NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL, 0 },
    { "eyJ2ZXIiOjEs+/", 14, 0, NULL, 0, 0, NULL, 0, NULL, 0, 0, NULL, 0, NULL, 0 },
};
#define TOKEN_CASES_LEN 13

struct enroll_body_case { const char *body; size_t body_len; int ok; const char *name; size_t name_len; const char *version; size_t version_len; const char *groups; size_t groups_len; const char *ip; size_t ip_len; const char *key_hash; size_t key_hash_len; const char *message; size_t message_len; };
static const struct enroll_body_case ENROLL_BODY_CASES[] = {
    { "{\042name\042:\042web-01\042,\042version\042:\042v5.0.0\042}", 36, 1, "web-01", 6, "v5.0.0", 6, NULL, 0, NULL, 0, NULL, 0, NULL, 0 },
    { "{\042name\042:\042web-01\042,\042version\042:\042v5.0.0\042,\042groups\042:\042default,db\042,\042ip\042:\042src\042,\042key_hash\042:null,\042extra\042:1}", 95, 1, "web-01", 6, "v5.0.0", 6, "default,db", 10, "src", 3, NULL, 0, NULL, 0 },
    { "{\042version\042:\042v5.0.0\042}", 20, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, "Missing or invalid field: name", 30 },
    { "{\042name\042:\042bad name\042,\042version\042:\042v5.0.0\042}", 38, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, "Missing or invalid field: name", 30 },
    { "{\042name\042:\042web-01\042}", 17, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, "Missing or invalid field: version", 33 },
    { "{\042name\042:\042web-01\042,\042version\042:\042v5.0.0\042,\042groups\042:5}", 47, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, "Invalid field: groups", 21 },
    { "{\042name\042:\042web-01\042,\042version\042:\042v5.0.0\042,\042ip\042:\042999.1.1.1\042}", 53, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, "Invalid field: ip", 17 },
    { "{\042name\042:\042web-01\042,\042version\042:\042v5.0.0\042,\042key_hash\042:\042xyz\042}", 53, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, "Invalid field: key_hash", 23 },
    { "{\042name\042:\042web-01\042,", 17, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, "Malformed JSON body", 19 },
    { "[]", 2, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, "Missing or invalid request body", 31 },
};
#define ENROLL_BODY_CASES_LEN 10

#endif
