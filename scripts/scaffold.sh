#!/usr/bin/env bash
# Creates an empty workspace package: scripts/scaffold.sh libs|services NAME "description" [dep ...]
set -euo pipefail
kind=$1 name=$2 desc=$3; shift 3
dir="$kind/$name"; mkdir -p "$dir/src"
deps=""; refs=""
for d in "$@"; do deps="$deps\"@sts/$d\": \"*\","; refs="$refs{\"path\": \"../../libs/$d\"},"; done
deps=${deps%,}; refs=${refs%,}
cat > "$dir/package.json" <<JSON
{
  "name": "@sts/$name",
  "version": "0.1.0",
  "private": true,
  "description": "$desc",
  "type": "module",
  "exports": { ".": { "types": "./dist/index.d.ts", "default": "./dist/index.js" } },
  "dependencies": { $deps }
}
JSON
cat > "$dir/tsconfig.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": { "rootDir": "src", "outDir": "dist", "tsBuildInfoFile": "dist/.tsbuildinfo" },
  "include": ["src/**/*.ts"],
  "exclude": ["src/**/*.test.ts"],
  "references": [ $refs ]
}
JSON
cat > "$dir/project.json" <<JSON
{
  "name": "$name",
  "\$schema": "../../node_modules/nx/schemas/project-schema.json",
  "targets": {
    "build": { "command": "tsc -b", "options": { "cwd": "{projectRoot}" } },
    "test": { "command": "vitest run --root {workspaceRoot} {projectRoot}", "options": { "cwd": "{workspaceRoot}" } }
  }
}
JSON
