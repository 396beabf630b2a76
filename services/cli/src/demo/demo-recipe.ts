// The demo's recipe: the runtime's recommended stage arguments for the tiny char-level Mamba
// (services/runtime/README.md, "Demo task and recommended recipe"), in handbook keys.
export const DEMO_FILES = {
  sft: "sft_train.jsonl",
  prefs: "dpo_train.jsonl",
  heldout: "heldout.jsonl",
} as const;

/** YAML of the demo recipe; dataset paths are relative to the directory the recipe is written to. */
export function demoRecipeYaml(dataDir = "./data"): string {
  return `# mambalign demo: teach a tiny char-level Mamba to reverse words (SFT), then prefer the right
# reversal over plausible mistakes (DPO), and measure both on held-out words.
name: demo
model_name_or_path: preset:tiny-mamba-char
stages: [sft, merge, dpo, eval]
datasets:
  demo-sft: ${dataDir}/${DEMO_FILES.sft}
  demo-prefs: ${dataDir}/${DEMO_FILES.prefs}
  demo-heldout: ${dataDir}/${DEMO_FILES.heldout}
torch_dtype: float32
use_peft: true
lora_dropout: 0.0
lr_scheduler_type: cosine
warmup_ratio: 0.05
seed: 1
# A checkpoint every 50 steps: a stage stopped part-way resumes from the last one, not from step 0.
save_steps: 50
sft:
  dataset_mixer: { demo-sft: 1.0 }
  lora_r: 64
  lora_alpha: 64
  lora_target_modules: [in_proj, x_proj, dt_proj, out_proj, embeddings]
  learning_rate: 4.0e-3
  per_device_train_batch_size: 32
  max_steps: 150
  assistant_only_loss: true
dpo:
  dataset_mixer: { demo-prefs: 1.0 }
  lora_r: 16
  lora_alpha: 32
  learning_rate: 2.0e-3
  per_device_train_batch_size: 16
  max_steps: 200
  beta: 0.2
  loss_type: sigmoid
  # DPO + the chosen answers' NLL (TRL's RPO): without it DPO widens the margin by making the right
  # answers less likely too, and held-out exact match falls (0.23 -> 0.18 in the runtime's measurement).
  rpo_alpha: 1.0
eval:
  exact_match_dataset: demo-heldout
  max_new_tokens: 12
  batch_size: 50
`;
}
