/* Calls the model written by examples/aot/compile_mlp.py (docs/abi.md).
 * Build: cc -std=c99 -I OUT_DIR examples/aot/main.c OUT_DIR/mlp.so -Wl,-rpath,OUT_DIR -o main */
#include <stdio.h>
#include <stdlib.h>

#include "mlp.h"

static int classify(mlp_instance *inst, const float *x, int64_t n) {
    int64_t shapes[MLP_OUTPUT_DIMS];
    mlp_output_shapes(&n, shapes);               /* probs [n, 3], label [n] */
    float *probs = malloc(sizeof(float) * (size_t)(shapes[0] * shapes[1]));
    int64_t *label = malloc(sizeof(int64_t) * (size_t)shapes[2]);
    int32_t rc = mlp_run(inst, x, n, probs, label);
    if (rc != MLP_OK) {
        fprintf(stderr, "mlp_run failed (%d): %s\n", (int)rc, mlp_last_error(inst));
        return 1;
    }
    for (int64_t i = 0; i < n; i++)
        printf("  row %lld: probs %.6f %.6f %.6f -> label %lld\n", (long long)i,
               probs[3 * i], probs[3 * i + 1], probs[3 * i + 2], (long long)label[i]);
    free(probs);
    free(label);
    return 0;
}

int main(void) {
    const float batch2[] = {1, 2, 3, 4, -1, 0.5f, 0, 2};
    const float batch3[] = {0, 0, 0, 0, 1, 1, 1, 1, 2, -2, 2, -2};
    mlp_instance *inst = mlp_create();
    if (!inst)
        return 1;
    printf("batch of 2:\n");
    if (classify(inst, batch2, 2))
        return 1;
    printf("batch of 3:\n");
    if (classify(inst, batch3, 3))
        return 1;
    int64_t seen;
    mlp_get_examples_seen(inst, &seen);
    printf("examples seen: %lld, runs: %lld, temporaries for n=3: %lld bytes\n",
           (long long)seen, (long long)mlp_get_run_counter(inst),
           (long long)mlp_temporaries_size((const int64_t[]){3}));
    mlp_free(inst);
    return 0;
}
