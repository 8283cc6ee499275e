#!/usr/bin/env bash
# Registers the /backup application command with Discord (global, or for one guild).
#   DISCORD_APP_ID=... DISCORD_BOT_TOKEN=... deploy/discord/register.sh [GUILD_ID]
# Guild commands appear at once; global ones can take up to an hour.
set -euo pipefail
: "${DISCORD_APP_ID:?set DISCORD_APP_ID}" "${DISCORD_BOT_TOKEN:?set DISCORD_BOT_TOKEN}"
api=${DISCORD_API_URL:-https://discord.com/api/v10}
url=$api/applications/$DISCORD_APP_ID/commands
[[ -n ${1:-} ]] && url=$api/applications/$DISCORD_APP_ID/guilds/$1/commands
curl -fsS -X PUT "$url" \
  -H "Authorization: Bot $DISCORD_BOT_TOKEN" -H "Content-Type: application/json" \
  --data-binary @"$(dirname "$0")/commands.json"
echo
