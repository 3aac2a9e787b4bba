#compdef emocli

_emocli_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _EMOCLI_COMPLETE=complete_zsh emocli)
}

compdef _emocli_completion emocli