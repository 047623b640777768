/*
 * authd_demo: what a C authd built on libagentkeys replies to registration requests.
 *
 *   authd_demo CLIENT_KEYS REQUESTS [PASSWORD]
 *
 * Loads CLIENT_KEYS (every bad line is reported with its number), then reads REQUESTS, one
 * registration request per line as agents send them on port 1515, and prints for each the exact
 * reply a Wazuh 4.x manager would send: `OSSEC K:'…'` with a new ID and key, or `ERROR: ….
 * Unable to add agent`. Agents added by earlier requests count for later ones (duplicate names).
 * It uses only <agentkeys.h> and the library; nothing is written to disk.
 */
#include <agentkeys.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_AGENTS 4096

struct agent {
    char id[AK_ID_BUF];
    char name[AK_NAME_BUF];
};

static struct agent agents[MAX_AGENTS];
static size_t agent_count;
static unsigned long highest_id;

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap *= 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
            }
            buf = bigger;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static void copy_str(char *dst, size_t cap, ak_str s) {
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static void remember(ak_str id, ak_str name) {
    if (agent_count == MAX_AGENTS) {
        return;
    }
    copy_str(agents[agent_count].id, AK_ID_BUF, id);
    copy_str(agents[agent_count].name, AK_NAME_BUF, name);
    unsigned long value = strtoul(agents[agent_count].id, NULL, 10);
    if (value > highest_id) {
        highest_id = value;
    }
    agent_count++;
}

static int name_taken(ak_str name) {
    for (size_t i = 0; i < agent_count; i++) {
        if (strlen(agents[i].name) == name.len && memcmp(agents[i].name, name.ptr, name.len) == 0) {
            return 1;
        }
    }
    return 0;
}

static int load_keys(const char *path) {
    size_t len;
    char *buf = read_file(path, &len);
    if (buf == NULL) {
        return -1;
    }
    ak_keys_iter it;
    ak_line line;
    int bad = 0;
    ak_keys_iter_init(&it, buf, len);
    while (ak_keys_iter_next(&it, &line) == AK_OK) {
        if (line.kind == AK_LINE_AGENT) {
            remember(line.record.id, line.record.name);
        } else if (line.kind == AK_LINE_REMOVED) {
            /* Removed agents still reserve their ID. */
            char id[AK_ID_BUF];
            copy_str(id, sizeof id, line.record.id);
            unsigned long value = strtoul(id, NULL, 10);
            highest_id = value > highest_id ? value : highest_id;
        } else if (line.kind == AK_LINE_INVALID) {
            char why[256];
            size_t n;
            ak_result_message(line.error.code, why, sizeof why, &n);
            fprintf(stderr, "%s:%u: %s (byte %zu)\n", path, line.number, why, line.error.offset);
            bad++;
        }
    }
    free(buf);
    return bad;
}

static void answer(const char *request, size_t len, const char *password) {
    ak_request_options opts;
    opts.password.ptr = password;
    opts.password.len = password != NULL ? strlen(password) : 0;
    opts.manager_version.ptr = "v4.14.7";
    opts.manager_version.len = 7;
    opts.source_ip.ptr = "127.0.0.1";
    opts.source_ip.len = 9;
    opts.use_source_ip = false;

    ak_request req;
    ak_error err;
    char reply[1024];
    size_t n;
    if (ak_request_parse(request, len, &opts, &req, &err) != AK_OK) {
        if (ak_error_reply(&err, reply, sizeof reply, &n) == AK_OK) {
            printf("%s\n", reply);
        }
        return;
    }
    if (name_taken(req.name)) {
        memset(&err, 0, sizeof err);
        err.code = AK_DUPLICATE_NAME;
        err.subject = req.name;
        ak_error_reply(&err, reply, sizeof reply, &n);
        printf("%s\n", reply);
        return;
    }
    char id[16], key[65];
    snprintf(id, sizeof id, "%03lu", highest_id + 1);
    if (ak_generate_key(key, sizeof key, &n) != AK_OK) {
        printf("ERROR: Internal manager error adding agent: %.*s. Unable to add agent\n", (int)req.name.len, req.name.ptr);
        return;
    }
    ak_record rec;
    rec.id.ptr = id;
    rec.id.len = strlen(id);
    rec.name = req.name;
    rec.ip.ptr = req.addr;
    rec.ip.len = strlen(req.addr);
    rec.key.ptr = key;
    rec.key.len = 64;
    if (ak_reply_format_key(&rec, reply, sizeof reply, &n, NULL) == AK_OK) {
        printf("%s\n", reply);
        remember(rec.id, rec.name);
    }
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s CLIENT_KEYS REQUESTS [PASSWORD]\n", argv[0]);
        return 2;
    }
    int bad = load_keys(argv[1]);
    if (bad < 0) {
        return 1;
    }
    size_t len;
    char *requests = read_file(argv[2], &len);
    if (requests == NULL) {
        return 1;
    }
    const char *password = argc == 4 ? argv[3] : NULL;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || requests[i] == '\n') {
            if (i > start) {
                answer(requests + start, i - start, password);
            }
            start = i + 1;
        }
    }
    free(requests);
    return bad == 0 ? 0 : 1;
}
