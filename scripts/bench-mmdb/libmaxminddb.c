// Throwaway (run.sh): libmaxminddb on the same addresses as main.swift. Single thread, addresses parsed
// before timing (inet_pton) except in the lookup_string mode.
#include <maxminddb.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static const char *paths[][6] = {
    {"city", "names", "en", NULL}, {"country", "names", "en", NULL}, {"continent", "code", NULL},
    {"continent", "names", "en", NULL}, {"country", "iso_code", NULL}, {"postal", "code", NULL},
    {"location", "metro_code", NULL}, {"subdivisions", "-1", "names", "en", NULL}, {"subdivisions", "-1", "iso_code", NULL},
    {"location", "time_zone", NULL}, {"location", "latitude", NULL}, {"location", "longitude", NULL},
};

static unsigned long fields(MMDB_lookup_result_s *r) {
    unsigned long sum = 0;
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        MMDB_entry_data_s d;
        if (MMDB_aget_value(&r->entry, &d, paths[p]) == MMDB_SUCCESS && d.has_data) {
            if (d.type == MMDB_DATA_TYPE_UTF8_STRING) { char *s = strndup(d.utf8_string, d.data_size); sum += s[0]; free(s); }
            else if (d.type == MMDB_DATA_TYPE_DOUBLE) sum += (unsigned long)d.double_value;
            else sum += d.uint16;
        }
    }
    return sum;
}

int main(int argc, char **argv) {
    MMDB_s db;
    if (MMDB_open(argv[1], MMDB_MODE_MMAP, &db) != MMDB_SUCCESS) return 1;
    FILE *f = fopen(argv[2], "r");
    char line[64];
    int n = 0, cap = 1 << 20;
    char (*texts)[48] = malloc(sizeof(*texts) * cap);
    struct sockaddr_storage *addrs = calloc(cap, sizeof *addrs);
    while (fgets(line, sizeof line, f) && n < cap) {
        line[strcspn(line, "\n")] = 0;
        strcpy(texts[n], line);
        if (strchr(line, ':')) { struct sockaddr_in6 *a = (void *)&addrs[n]; a->sin6_family = AF_INET6; inet_pton(AF_INET6, line, &a->sin6_addr); }
        else { struct sockaddr_in *a = (void *)&addrs[n]; a->sin_family = AF_INET; inet_pton(AF_INET, line, &a->sin_addr); }
        n++;
    }
    for (int mode = 0; mode < 4; mode++) {
        double best = 1e9; unsigned long sum = 0; int found = 0;
        for (int round = 0; round < 3; round++) {
            double t0 = now(); found = 0;
            for (int i = 0; i < n; i++) {
                int gai, err;
                MMDB_lookup_result_s r = mode == 3 ? MMDB_lookup_string(&db, texts[i], &gai, &err)
                                                   : MMDB_lookup_sockaddr(&db, (struct sockaddr *)&addrs[i], &err);
                if (!r.found_entry) continue;
                found++;
                if (mode == 1) {
                    MMDB_entry_data_list_s *list;
                    if (MMDB_get_entry_data_list(&r.entry, &list) == MMDB_SUCCESS) { sum += list->entry_data.data_size; MMDB_free_entry_data_list(list); }
                } else if (mode >= 2) sum += fields(&r);
            }
            double t = now() - t0; if (t < best) best = t;
        }
        const char *names[] = {"lookup only (sockaddr)", "lookup + MMDB_get_entry_data_list (whole record)",
                               "lookup + MMDB_aget_value x12 (the filter's fields, strings copied)", "MMDB_lookup_string + aget x12"};
        printf("libmaxminddb %-70s %9.0f lookups/s (%d found, best of 3) [%lu]\n", names[mode], n / best, found, sum % 10);
    }
    return 0;
}
