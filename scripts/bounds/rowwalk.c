// What the batch-1 row walk of the CPU EIE kernel (kernels/src/cpu/eie.rs, RowWalkOne, f32) costs on this
// core, replayed in C: rows in groups of 8, one entry per row and step, an entry `code << 9 | column` read
// four at a time from 8-byte loads, each the index of its product in a 16 x 512 table (plus a padding slot),
// one table read and add per entry into the row's accumulator. 1000 groups of 33 steps (about the real
// FC8's 1.05 M entries), random codes 1-15 and columns; the same loop without the table read (its decode,
// loop and an integer add of the index) shows what the read costs. Best of 300 walks, ns per entry; the
// clock from a chain of dependent adds.
//
//   gcc -O2 -march=native -fno-tree-vectorize scripts/bounds/rowwalk.c -o rowwalk && taskset -c 0 ./rowwalk
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}
#define TAB 8193
#define STEPS 33   /* FC8: ~1.05M entries / (125 groups x 8 tiles) / 8 lanes */
#define GROUPS 1000
static float table[TAB] __attribute__((aligned(64)));
static uint16_t e[GROUPS*STEPS*8] __attribute__((aligned(64)));
static float out[GROUPS*8];
static uint32_t iout[GROUPS*8];
__attribute__((noinline)) void full(void){
  for(int g=0;g<GROUPS;g++){ const uint16_t*eg=e+g*STEPS*8; float a[8]={0};
    for(int s=0;s<STEPS;s++){ uint64_t q0,q1; memcpy(&q0,eg+s*8,8); memcpy(&q1,eg+s*8+4,8);
      a[0]+=table[q0&0xffff]; a[1]+=table[(q0>>16)&0xffff]; a[2]+=table[(q0>>32)&0xffff]; a[3]+=table[q0>>48];
      a[4]+=table[q1&0xffff]; a[5]+=table[(q1>>16)&0xffff]; a[6]+=table[(q1>>32)&0xffff]; a[7]+=table[q1>>48]; }
    memcpy(out+g*8,a,32);} }
__attribute__((noinline)) void notable(void){ /* decode and integer add of the index, no table read */
  for(int g=0;g<GROUPS;g++){ const uint16_t*eg=e+g*STEPS*8; uint32_t a[8]={0};
    for(int s=0;s<STEPS;s++){ uint64_t q0,q1; memcpy(&q0,eg+s*8,8); memcpy(&q1,eg+s*8+4,8);
      __asm__ volatile("" : "+r"(q0), "+r"(q1));
      a[0]+=q0&0xffff; a[1]+=(q0>>16)&0xffff; a[2]+=(q0>>32)&0xffff; a[3]+=q0>>48;
      a[4]+=q1&0xffff; a[5]+=(q1>>16)&0xffff; a[6]+=(q1>>32)&0xffff; a[7]+=q1>>48; }
    memcpy(iout+g*8,a,32);} }
int main(void){
  for(int i=0;i<TAB;i++) table[i]=(i%97)*0.01f;
  srand(7); for(int i=0;i<GROUPS*STEPS*8;i++){ int v=1+rand()%15, c=rand()%512; e[i]=(v<<9)|c; }
  void (*f[2])(void)={full,notable}; const char*nm[2]={"full (8-byte entry loads, decode, table read, add)","decode only (no table read)"};
  double best[2]={1e30,1e30};
  for(int rep=0;rep<300;rep++) for(int m=0;m<2;m++){ double t0=now(); f[m](); double t=now()-t0; if(t<best[m])best[m]=t; }
  double n=(double)GROUPS*STEPS*8;
  for(int m=0;m<2;m++) printf("%-55s %.3f ns/entry\n",nm[m],best[m]/n);
  printf("chk %f %u\n",out[5],iout[5]);
  /* clock: dependent adds */
  double b=1e30; for(int r=0;r<20;r++){ uint64_t x=1; double t0=now(); for(long i=0;i<100000000;i++){ __asm__ volatile("add $1, %0" : "+r"(x)); } double t=now()-t0; if(t<b)b=t; }
  printf("clock %.2f GHz\n", 1e8/b);
}
