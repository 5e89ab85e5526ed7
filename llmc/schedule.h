/*
Learning-rate schedules, shared by both trainers: linear warmup from lr/warmup to lr over `warmup`
steps, then one of
    cosine    lr_min + (lr - lr_min) * 0.5 * (1 + cos(pi * progress))
    linear    lr - (lr - lr_min) * progress
    constant  lr
    wsd       warmup-stable-decay: lr until the last `wsd_decay_frac` of the steps, then linear to lr_min
where lr_min = lr * final_frac and progress runs from 0 (end of warmup) to 1 (the last step).
*/
#ifndef LLMC_SCHEDULE_H
#define LLMC_SCHEDULE_H

#include <math.h>
#include <string.h>

typedef enum { SCHEDULE_COSINE, SCHEDULE_LINEAR, SCHEDULE_CONSTANT, SCHEDULE_WSD } ScheduleType;

static const char* const schedule_names[] = {"cosine", "linear", "constant", "wsd"};

typedef struct {
    ScheduleType type;
    float lr;             // peak learning rate
    int warmup;           // warmup steps
    int total_steps;      // steps in the whole run
    float final_frac;     // lr at the end as a fraction of the peak
    float wsd_decay_frac; // wsd only: fraction of the steps spent decaying
} LRSchedule;

// returns the schedule for a name, or -1 when the name is unknown
static int schedule_from_name(const char* name) {
    for (int i = 0; i < (int)(sizeof(schedule_names) / sizeof(schedule_names[0])); i++) {
        if (strcmp(name, schedule_names[i]) == 0) return i;
    }
    return -1;
}

static float lr_at_step(const LRSchedule* s, int step) {
    if (step < s->warmup) return s->lr * (float)(step + 1) / (float)s->warmup;
    float lr_min = s->lr * s->final_frac;
    int decay_start = s->warmup;
    if (s->type == SCHEDULE_CONSTANT) return s->lr;
    if (s->type == SCHEDULE_WSD) {
        int wsd_start = s->total_steps - (int)lroundf(s->wsd_decay_frac * (float)s->total_steps);
        decay_start = wsd_start > s->warmup ? wsd_start : s->warmup;
        if (step < decay_start) return s->lr;
    }
    int span = s->total_steps - 1 - decay_start;
    float progress = span > 0 ? (float)(step - decay_start) / (float)span : 1.0f;
    if (progress > 1.0f) progress = 1.0f;
    if (s->type == SCHEDULE_COSINE) return lr_min + (s->lr - lr_min) * 0.5f * (1.0f + cosf((float)M_PI * progress));
    return s->lr - (s->lr - lr_min) * progress; // linear, and the decay phase of wsd
}

#endif // LLMC_SCHEDULE_H
