/* Runs the "basic" model of tests/test_aot.py from C.
 * usage: basic N0 N1 x.bin idx.bin out.bin
 * Reads x (float32[N0, 3]) and idx (int32[N1]) as raw bytes, runs the model once and
 * writes every output's bytes, in order, to out.bin. On failure it prints the error code
 * and basic_last_error() and exits with 3. */
#include <stdio.h>
#include <stdlib.h>

#include "basic.h"

static void *read_all(const char *path, size_t want) {
    FILE *f = fopen(path, "rb");
    void *data = malloc(want ? want : 1);
    if (!f || !data || fread(data, 1, want, f) != want) {
        fprintf(stderr, "cannot read %zu bytes from %s\n", want, path);
        exit(2);
    }
    fclose(f);
    return data;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s N0 N1 x.bin idx.bin out.bin\n", argv[0]);
        return 2;
    }
    int64_t symbols[BASIC_NUM_SYMBOLS] = {atoll(argv[1]), atoll(argv[2])};
    float *x = read_all(argv[3], (size_t)symbols[0] * 3 * sizeof(float));
    int32_t *idx = read_all(argv[4], (size_t)symbols[1] * sizeof(int32_t));

    int64_t shapes[BASIC_OUTPUT_DIMS];
    basic_output_shapes(symbols, shapes);
    /* outputs: y [N0, 2], g [N1, 2], t [N0, 3], s [] */
    size_t ny = (size_t)(shapes[0] * shapes[1]), ng = (size_t)(shapes[2] * shapes[3]);
    size_t nt = (size_t)(shapes[4] * shapes[5]);
    float *y = malloc(ny * sizeof(float) + 1), *g = malloc(ng * sizeof(float) + 1);
    float *t = malloc(nt * sizeof(float) + 1), s = 0.0f;

    basic_instance *inst = basic_create();
    if (!inst) {
        fprintf(stderr, "basic_create failed\n");
        return 2;
    }
    int32_t rc = basic_run(inst, x, idx, symbols[0], symbols[1], y, g, t, &s);
    if (rc != BASIC_OK) {
        printf("error %d: %s\n", (int)rc, basic_last_error(inst));
        basic_free(inst);
        return 3;
    }
    FILE *out = fopen(argv[5], "wb");
    fwrite(y, sizeof(float), ny, out);
    fwrite(g, sizeof(float), ng, out);
    fwrite(t, sizeof(float), nt, out);
    fwrite(&s, sizeof(float), 1, out);
    fclose(out);
    printf("ok temporaries=%lld counter=%lld\n", (long long)basic_temporaries_size(symbols),
           (long long)basic_get_run_counter(inst));
    basic_free(inst);
    free(x), free(idx), free(y), free(g), free(t);
    return 0;
}
