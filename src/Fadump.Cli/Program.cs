using Fadump.Cli;

return FadumpCommand.Run(args, Console.Out, Console.Error);
