/* Runs the "stateful" model of tests/test_aot.py from C at two batch sizes on one
 * instance, so the second run sees the variables the first one assigned.
 * usage: stateful x_a.bin N_a x_b.bin N_b out.bin
 * x is float32[N, 4]. out.bin gets: y of run a (float32[N_a, 3]), y of run b, then the
 * variables after both runs: w (float32[4, 3]), b (float32[3]), steps (int64), then the
 * run counter (int64). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stateful.h"

static float *read_floats(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    float *data = malloc(n * sizeof(float) + 1);
    if (!f || !data || fread(data, sizeof(float), n, f) != n) {
        fprintf(stderr, "cannot read %zu floats from %s\n", n, path);
        exit(2);
    }
    fclose(f);
    return data;
}

static int run_once(stateful_instance *inst, const char *path, int64_t n, FILE *out) {
    float *x = read_floats(path, (size_t)n * 4);
    int64_t shapes[STATEFUL_OUTPUT_DIMS];
    stateful_output_shapes(&n, shapes);
    float *y = malloc((size_t)(shapes[0] * shapes[1]) * sizeof(float));
    int32_t rc = stateful_run(inst, x, n, y);
    if (rc != STATEFUL_OK) {
        printf("error %d: %s\n", (int)rc, stateful_last_error(inst));
        return 3;
    }
    fwrite(y, sizeof(float), (size_t)(shapes[0] * shapes[1]), out);
    free(x), free(y);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s x_a.bin N_a x_b.bin N_b out.bin\n", argv[0]);
        return 2;
    }
    stateful_instance *inst = stateful_create();
    FILE *out = fopen(argv[5], "wb");
    if (!inst || !out)
        return 2;
    if (run_once(inst, argv[1], atoll(argv[2]), out) ||
        run_once(inst, argv[3], atoll(argv[4]), out))
        return 3;
    float w[4 * 3], b[3];
    int64_t steps, counter = stateful_get_run_counter(inst);
    stateful_get_w(inst, w);
    stateful_get_b(inst, b);
    int32_t k = 0;
    while (k < STATEFUL_NUM_VARIABLES && strcmp(stateful_variable_name(k), "steps") != 0)
        k++;
    if (stateful_get_variable(inst, k, &steps) != STATEFUL_OK ||
        stateful_variable_name(STATEFUL_NUM_VARIABLES) != NULL ||
        stateful_get_variable(inst, STATEFUL_NUM_VARIABLES, &steps) != STATEFUL_ERROR_ARGUMENT) {
        printf("variable access by index failed\n");
        return 4;
    }
    fwrite(w, sizeof(float), 12, out);
    fwrite(b, sizeof(float), 3, out);
    fwrite(&steps, sizeof(int64_t), 1, out);
    fwrite(&counter, sizeof(int64_t), 1, out);
    fclose(out);
    stateful_free(inst);
    printf("ok\n");
    return 0;
}
